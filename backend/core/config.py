"""Service settings (pydantic-settings): environment variables or a `.env` file, no prefix.

ARTIFACTS_DIR=artifacts   where the suites are (`python -m training train --out`)
HOST=127.0.0.1 PORT=8000  where `python -m backend` listens
CACHE_SIZE=8              snapshots kept loaded (LRU, shared by all requests)
RESPONSE_CACHE_SIZE=64    attention answers kept, encoded (LRU; 0 turns it off)
MAX_TEXT_CHARS=100000     longest text accepted before tokenising
MAX_TEXT_TOKENS=4096      longest token sequence run (the model's n_ctx caps it anyway)
MAX_HEADS=64              heads one answer holds per-position values of (attention, logit attribution)
MAX_ABLATION_HEADS=16     heads one ablation request removes together
TORCH_THREADS=1           torch intra-op threads (0: torch's default, one per core)
ATTENTION_THREADS=1       threads running the attention route, first come first served
MAX_BODY_BYTES=1000000    largest request body accepted (413 beyond)
MAX_INFLIGHT=4            on-demand computations (POST …/snapshots/…) running at once
QUEUE_TIMEOUT_S=5         how long a computation waits for a free slot before a 429
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    artifacts_dir: Path = Path("artifacts")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # A loaded snapshot of the `default` suite is a few MB; 8 covers a dashboard comparing runs.
    cache_size: int = Field(8, ge=1)
    # An attention answer for 128 tokens of the `default` 2-layer model is ~0.6 MB of JSON.
    response_cache_size: int = Field(64, ge=0)
    max_text_chars: int = Field(100_000, ge=1)
    max_text_tokens: int = Field(4096, ge=2)
    # An attention answer grows with heads x tokens^2 (a pattern per head): 64 heads covers every
    # head of every preset's models but the `paper` 6-layer ones (72), which then pick layers.
    max_heads: int = Field(64, ge=1)
    # An ablation is one forward pass whatever the count; the cap bounds the request and its
    # hooks. The paper ablates one head, or an induction circuit of a few, at a time.
    max_ablation_heads: int = Field(16, ge=1)
    # Set when the app starts serving. Our models are tiny: a forward pass takes ~1 ms on one
    # thread, while two intra-op threads on a busy 2-core machine took ~240 ms (threads waiting
    # for a core). Concurrent requests already run in parallel in the threadpool.
    torch_threads: int = Field(1, ge=0)
    # One thread, on 2 cores, leaves the other to the event loop and HTTP: more threads made
    # the GIL the queue and raised the p95 latency under 8 concurrent clients (bench/).
    attention_threads: int = Field(1, ge=1)
    # Bounded work: a body is a text of at most MAX_TEXT_CHARS plus a few fields; a request
    # waits at most QUEUE_TIMEOUT_S for one of MAX_INFLIGHT computation slots, then gets a 429,
    # so a burst of expensive requests (ablations) queues briefly instead of piling up threads.
    max_body_bytes: int = Field(1_000_000, ge=1024)
    max_inflight: int = Field(4, ge=1)
    queue_timeout_s: float = Field(5.0, gt=0)
