"""Hello-world function: `app.handler`."""

import json  # noqa: F401  (typical imports live at module level: they run once per environment)


def handler(event, context):
    name = event.get("name", "world") if isinstance(event, dict) else "world"
    print(f"saying hello to {name}")
    return {
        "message": "hello " + name,
        "requestId": context.aws_request_id,
        "function": context.function_name,
    }
