"""Service settings (pydantic-settings): environment variables or a `.env` file, no prefix.

Each field's `description` is what it does, and is the text of the settings table in
docs/reference/settings.md (`scripts/gen_docs.py`); the comments above the fields say why the
defaults are what they are.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    artifacts_dir: Path = Field(
        Path("artifacts"), description="the folder holding the suites (`python -m training train --out`)"
    )
    host: str = Field("127.0.0.1", description="where `python -m backend` listens (`uvicorn` takes `--host`)")
    port: int = Field(8000, ge=1, le=65535, description="the port `python -m backend` listens on (`uvicorn --port`)")
    # A loaded snapshot of the `default` suite is a few MB; 8 covers a dashboard comparing runs.
    cache_size: int = Field(
        8, ge=1, description="snapshots kept loaded, least recently used evicted first, shared by all requests"
    )
    # An attention answer for 128 tokens of the `default` 2-layer model is ~0.6 MB of JSON.
    response_cache_size: int = Field(
        64,
        ge=0,
        description="attention answers kept as encoded JSON, keyed on the snapshot file's sha256, the tokens and "
        "the heads (0 turns it off)",
    )
    max_text_chars: int = Field(100_000, ge=1, description="longest text accepted before tokenising")
    max_text_tokens: int = Field(
        4096,
        ge=2,
        description="longest token sequence run (attention, losses, ablation, logit attribution); the model's "
        "`n_ctx` is the real limit",
    )
    # An attention answer grows with heads x tokens^2 (a pattern per head): 64 heads covers every
    # head of every preset's models but the `paper` 6-layer ones (72), which then pick layers.
    max_heads: int = Field(
        64,
        ge=1,
        description="heads one answer covers: the attention patterns chosen with `layers` × `heads` (default: "
        "all), and logit attribution (every head of the model); more is a 422",
    )
    # An ablation is one forward pass whatever the count; the cap bounds the request and its
    # hooks. The paper ablates one head, or an induction circuit of a few, at a time.
    max_ablation_heads: int = Field(16, ge=1, description="distinct heads one ablation removes together; more is a 422")
    # Set when the app starts serving. Our models are tiny: a forward pass takes ~1 ms on one
    # thread, while two intra-op threads on a busy 2-core machine took ~240 ms (threads waiting
    # for a core). Concurrent requests already run in parallel in the threadpool.
    torch_threads: int = Field(1, ge=0, description="torch intra-op threads (0: torch's default, one per core)")
    # One thread, on 2 cores, leaves the other to the event loop and HTTP: more threads made
    # the GIL the queue and raised the p95 latency under 8 concurrent clients (bench/).
    attention_threads: int = Field(1, ge=1, description="threads running the attention route, first come first served")
    # Bounded work: a body is a text of at most MAX_TEXT_CHARS plus a few fields; a request
    # waits at most QUEUE_TIMEOUT_S for one of MAX_INFLIGHT computation slots, then gets a 429,
    # so a burst of expensive requests (ablations) queues briefly instead of piling up threads.
    max_body_bytes: int = Field(1_000_000, ge=1024, description="largest request body accepted; a larger one is a 413")
    max_inflight: int = Field(
        4, ge=1, description="on-demand computations (the POST routes) running at once; the rest wait"
    )
    queue_timeout_s: float = Field(
        5.0,
        gt=0,
        description="how long a computation waits for a free slot before it is a 429 (reads never wait)",
    )
