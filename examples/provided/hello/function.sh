# The handler: prints the response for the event in $1; logs go to stderr.
handler() {
  echo "greeting, event: $1" >&2
  echo "{\"message\":\"Hello from bash!\",\"event\":$1}"
}
