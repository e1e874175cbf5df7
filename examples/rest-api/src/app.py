"""A to-do list REST API behind a function URL: `app.handler`.

    GET    /todos          list
    POST   /todos          create  {"title": "...", "done": false}
    GET    /todos/{id}     read
    PUT    /todos/{id}     update  {"title": "...", "done": true} (either member)
    DELETE /todos/{id}     delete

The list lives in a JSON file in the environment's /tmp (TODO_FILE overrides the path). Like
Lambda's /tmp, it lasts as long as the execution environment does: enough for a demo, not a
database.
"""

import base64
import json
import os
import re
import uuid

TODO_FILE = os.environ.get("TODO_FILE", "/tmp/todos.json")
ITEM = re.compile(r"^/todos/([0-9a-f]{32})/?$")


def load():
    try:
        with open(TODO_FILE) as f:
            return json.load(f)
    except FileNotFoundError:
        return []


def save(todos):
    tmp = TODO_FILE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(todos, f)
    os.replace(tmp, TODO_FILE)


def reply(status, body=None, headers=None):
    resp = {"statusCode": status, "headers": {"content-type": "application/json", **(headers or {})}}
    if body is not None:
        resp["body"] = json.dumps(body)
    return resp


def error(status, message):
    return reply(status, {"message": message})


def request_json(event):
    """The request body as JSON (function URLs base64-encode non-text content types)."""
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode("utf-8")
    doc = json.loads(raw or "{}")
    if not isinstance(doc, dict):
        raise ValueError("expected a JSON object")
    return doc


def changes(doc, creating):
    out = {}
    if "title" in doc or creating:
        title = doc.get("title")
        if not isinstance(title, str) or not title.strip():
            raise ValueError("title must be a non-empty string")
        out["title"] = title.strip()
    if "done" in doc:
        if not isinstance(doc["done"], bool):
            raise ValueError("done must be true or false")
        out["done"] = doc["done"]
    return out


def handler(event, context):
    method = event["requestContext"]["http"]["method"]
    path = event.get("rawPath", "/")
    try:
        if path in ("/todos", "/todos/"):
            if method == "GET":
                return reply(200, load())
            if method == "POST":
                todo = {"id": uuid.uuid4().hex, "title": "", "done": False}
                todo.update(changes(request_json(event), creating=True))
                todos = load()
                todos.append(todo)
                save(todos)
                return reply(201, todo, {"location": f"/todos/{todo['id']}"})
            return error(405, f"{method} is not allowed on /todos")
        m = ITEM.match(path)
        if m:
            todos = load()
            todo = next((t for t in todos if t["id"] == m.group(1)), None)
            if todo is None:
                return error(404, f"todo {m.group(1)} not found")
            if method == "GET":
                return reply(200, todo)
            if method in ("PUT", "PATCH"):
                todo.update(changes(request_json(event), creating=False))
                save(todos)
                return reply(200, todo)
            if method == "DELETE":
                save([t for t in todos if t is not todo])
                return {"statusCode": 204}
            return error(405, f"{method} is not allowed on /todos/{{id}}")
        return error(404, f"no route for {path}")
    except ValueError as e:  # includes json.JSONDecodeError and bad base64/UTF-8
        return error(400, str(e))
