"""HTTP serving of one model (FastAPI + uvicorn, the ``anotrans[serve]`` extra): :mod:`.app`."""
