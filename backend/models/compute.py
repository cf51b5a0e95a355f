"""Request and response models of the routes that run a snapshot on demand: attention,
prefix matching, ablation, logit attribution. Request bodies reject unknown fields."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from backend.models.artifacts import Floats, Grid


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextInput(Strict):
    text: str | None = Field(
        None,
        min_length=1,
        description="tokenised with the suite tokenizer; the model's BOS is prepended where it has one",
    )
    tokens: list[int] | None = Field(None, min_length=2, description="token ids, used as given (no BOS added)")

    @model_validator(mode="after")
    def _one_input(self):
        if (self.text is None) == (self.tokens is None):
            raise ValueError("give exactly one of 'text' and 'tokens'")
        return self


PACKED_SCALE = 65535  # a packed attention weight is round(weight * PACKED_SCALE) as a uint16


class AttentionRequest(TextInput):
    layers: list[int] | None = Field(None, min_length=1, description="layers to return (default: all)")
    heads: list[int] | None = Field(None, min_length=1, description="heads of each chosen layer (default: all)")
    encoding: Literal["json", "packed"] = Field(
        "json",
        description="how each head's pattern is sent: 'json' (default) as lists of floats in `pattern`; "
        "'packed' in `packed`, ~3x smaller and cheaper to encode (see HeadPattern.packed)",
    )


class OptionalTextInput(Strict):
    text: str | None = Field(None, min_length=1, description="default: the run's held-out evaluation contexts")
    tokens: list[int] | None = Field(None, min_length=2)

    @model_validator(mode="after")
    def _at_most_one(self):
        if self.text is not None and self.tokens is not None:
            raise ValueError("give at most one of 'text' and 'tokens'")
        return self


class AblationRequest(OptionalTextInput):
    heads: list[tuple[int, int]] = Field(min_length=1, description="[[layer, head], ...] ablated together")
    mode: Literal["mean", "pattern_preserving"] = "mean"


class PrefixMatchingRequest(Strict):
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="default: the analysis seed")
    n_sequences: int | None = Field(None, ge=1, le=100, description="default: the analysis count (the paper's 10)")


class LogitAttributionRequest(TextInput):
    pass


class SnapshotRef(BaseModel):
    suite: str
    run: str
    step: int


class TokenPrediction(BaseModel):
    token_id: int
    token: str
    prob: float


class HeadPattern(BaseModel):
    layer: int
    head: int
    label: str
    pattern: list[list[float]] | None = Field(
        description="encoding 'json': [query][key], row q holding keys 0..q (later keys are masked out); "
        "each row sums to 1. Null with encoding 'packed'"
    )
    packed: str | None = Field(
        description=f"encoding 'packed': base64 of little-endian uint16 values, the rows of `pattern` one after "
        f"another (row q has q + 1 values); weight = value / {PACKED_SCALE} (absolute error <= 7.7e-6). "
        "Null with encoding 'json'"
    )


class AttentionResponse(SnapshotRef):
    token_ids: list[int]
    tokens: list[str]
    patterns: list[HeadPattern]
    loss: Floats = Field(description="per-token loss (nats) by context index")
    mean_loss: float | None
    top_predictions: list[list[TokenPrediction]] = Field(description="[position]: the 5 likeliest next tokens")


class PrefixMatchingResponse(SnapshotRef):
    seed: int
    n_sequences: int
    n_random: int
    n_repeats: int
    scores: Grid
    analysis_seed: int
    stored: Grid | None = Field(
        description="the analysis's stored scores at this step (same seed and count give the same values)"
    )


class AblationResponse(SnapshotRef):
    mode: Literal["mean", "pattern_preserving"]
    heads: list[str]
    input: Literal["text", "tokens", "heldout"]
    n_sequences: int
    clean_loss: float | None
    ablated_loss: float | None
    delta_loss: float | None
    icl_late: int
    icl_early: int
    icl_width: int = Field(description="each ICL loss is averaged over context indices within this distance")
    clean_icl: float | None = Field(description="null when the input is too short for the ICL indices")
    ablated_icl: float | None
    delta_icl: float | None
    loss_clean: Floats = Field(description="per-token loss by context index (mean over sequences)")
    loss_ablated: Floats
    tokens: list[str] | None = Field(description="the input as token strings (text or tokens input only)")


class LogitAttributionResponse(SnapshotRef):
    token_ids: list[int]
    tokens: list[str]
    logits: Floats = Field(
        description="[position]: the model's logit for the actual next token minus the mean of its logits"
    )
    contributions: list[Grid] = Field(
        description="[position][layer][head]: each head's direct-path share of that centred logit"
    )


# ---- per-token losses of a text, and the stored before-and-after table -----------------------


class LossesRequest(TextInput):
    baseline_step: int | None = Field(
        None, ge=0, description="another snapshot step of the run: the answer also holds its losses and the change"
    )


class LossesResponse(SnapshotRef):
    token_ids: list[int]
    tokens: list[str]
    loss: Floats = Field(description="per-token loss (nats) by context index i: the loss of predicting token i + 1")
    mean_loss: float | None
    earlier: list[int | None] = Field(
        description="[position]: the latest earlier position holding the same token id (null: its first occurrence)"
    )
    repeat_of: list[int | None] = Field(
        description="[context index i]: when token i + 1 repeats earlier context (the pair token i, token i + 1 "
        "occurred before), the position of that earlier copy of token i + 1, else null; what an induction head predicts"
    )
    baseline_step: int | None = Field(None, description="the baseline snapshot, when one was asked for")
    baseline_loss: Floats | None = Field(None, description="per-token loss at baseline_step")
    loss_change: Floats | None = Field(None, description="loss minus baseline_loss, per context index (nats)")
    baseline_mean_loss: float | None = None


class BeforeAfterRun(BaseModel):
    before_step: int = Field(description="the snapshot at the start of the run's phase window")
    after_step: int = Field(description="the snapshot at its end")
    loss_change: float | None = Field(description="mean per-token loss change from before_step to after_step (nats)")
    mode: str = Field(
        "mean", description="the ablation compared: pattern_preserving (tables written since issue 12) or mean"
    )
    alignment: Grid = Field(
        description="[layer][head]: cosine of the head's per-token loss change under ablation at after_step with "
        "the reversed before-and-after vector; +1 = removing the head undoes the phase change's direction"
    )
    projection: Grid | None = Field(
        None,
        description="[layer][head]: the share of the before-and-after change the head's ablation undoes, by "
        "projection onto it (1 = all of it); null in tables written before it existed",
    )
    induction_heads: list[list[int]] = Field(
        default_factory=list, description="[[layer, head], ...] prefix matching above 0.3 at after_step"
    )
    induction_projection: float | None = Field(
        None, description="the share of the change undone by ablating all the induction heads together"
    )
    induction_alignment: float | None = Field(None, description="their joint ablation's cosine, as alignment")
    note: str


class BeforeAfterResponse(BaseModel):
    suite: str
    runs: dict[str, BeforeAfterRun] = Field(description="every run with a phase window and the full analysis")
