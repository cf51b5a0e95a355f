"""`python -m backend`: serve the app on the HOST and PORT of the settings."""

import uvicorn

from backend.core.config import Settings

if __name__ == "__main__":
    settings = Settings()
    uvicorn.run("backend.main:app", host=settings.host, port=settings.port)
