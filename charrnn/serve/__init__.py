"""`charrnn serve`: a model in the browser and over HTTP.

config.py   the server's options and limits (no web framework imported: `--help` stays fast)
guards.py   what keeps it serving: the body-size limit, the slots for model work, JSON errors
requests.py the JSON bodies the API takes, validated (pydantic)
app.py      the FastAPI application: the page at /, the JSON API under /api, OpenAPI at /docs
page.html   the page: generate (streamed, stoppable) and surprise (each character coloured)
run.py      a listening socket, uvicorn, and a clean stop on Ctrl-C or SIGTERM
"""
