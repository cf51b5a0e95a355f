"""Configuration: one frozen dataclass per concern, and typed `key=value` overrides.

A preset (see `training/pipeline/presets/`) bundles a `DataConfig`, a `TrainConfig`, a base
`ModelConfig`, an `AnalysisConfig`, an `LLCConfig` and the suite's runs, each run a name plus the model fields
it changes. Configs
are plain data: creating one has no side effects; seeding happens once, in `training.pipeline.train`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from training.core.config import ConfigError, LLCConfig, ModelConfig, _check


@dataclass(frozen=True)
class DataConfig:
    # "stdlib" (this interpreter's standard library source), "synthetic-repeats", a local
    # file or folder, or "hf:NAME[:CONFIG]" (a Hugging Face dataset, streamed).
    source: str = "stdlib"
    tokenizer: Literal["bpe", "bytes"] = "bpe"  # a byte-level BPE trained on the training split, or plain bytes
    vocab_size: int = 1024  # BPE only; "bytes" is always 256
    heldout_fraction: float = 0.05  # share of files (documents) held out for evaluation
    max_chars: int = 20_000_000  # cap on the corpus read (characters), to bound memory and time
    # Share of training contexts that repeat a stretch of their own text, where `repeat_layout`
    # says (held-out text is never altered): more repeated text, a stronger incentive to form
    # induction heads sooner.
    repeat_fraction: float = 0.0
    # Where the repeat sits: "half" (the second half copies the first, a fixed offset of
    # n_ctx/2) or "random" (a segment of random length copied to a random later offset:
    # `training.pipeline.data.repeat_segments`; no positional shortcut predicts it).
    repeat_layout: Literal["half", "random"] = "half"
    hf_split: str = "train"  # hf: sources: the split read
    hf_text_field: str = "text"  # hf: sources: the text column; comma-separated, the first one a record has
    synthetic_vocab: int = 64  # synthetic-repeats: number of distinct tokens
    synthetic_period: int = 16  # synthetic-repeats: mean length of the random segment that repeats
    synthetic_tokens: int = 2_000_000  # synthetic-repeats: size of the generated corpus

    def __post_init__(self) -> None:
        _check(self.vocab_size >= 260, "data.vocab_size", "must be at least 260 (256 bytes + specials)")
        _check(0.0 < self.heldout_fraction < 0.5, "data.heldout_fraction", "must be in (0, 0.5)")
        _check(self.max_chars > 0, "data.max_chars", "must be positive")
        _check(0.0 <= self.repeat_fraction <= 1.0, "data.repeat_fraction", "must be in [0, 1]")
        _check(self.synthetic_vocab >= 4, "data.synthetic_vocab", "must be at least 4")
        _check(self.synthetic_period >= 2, "data.synthetic_period", "must be at least 2")


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0  # the initial weights and the order of the batches (keyed on seed and step)
    steps: int = 1000  # optimizer steps of every run without its own budget (`RunSpec.steps`)
    batch_size: int = 8  # contexts per step; the global batch over all processes of a torchrun launch
    lr: float = 3e-3  # AdamW's peak learning rate, reached after warm-up
    warmup_steps: int = 100  # steps of linear warm-up to `lr`
    schedule: Literal["constant", "cosine", "linear"] = "constant"  # after warm-up
    min_lr_fraction: float = 0.1  # cosine/linear decay ends at lr * min_lr_fraction
    weight_decay: float = 0.01  # AdamW's decoupled weight decay
    beta1: float = 0.9  # AdamW's first-moment decay
    beta2: float = 0.99  # AdamW's second-moment decay
    grad_clip: float = 1.0  # gradients clipped to this global norm
    # The snapshots are the union of both schedules; step 0 and the last step are always among them.
    log_snapshots: int = 24  # log-spaced snapshot steps
    linear_snapshots: int = 24  # evenly spaced snapshot steps
    eval_sequences: int = 32  # held-out sequences scored at every snapshot
    resume_every: int = 200  # steps between resume checkpoints
    threads: int = 2  # torch CPU threads; fixed so that reruns are bit-identical
    # "auto": CUDA when torch sees a GPU; `--device cpu` or `--device cuda` overrides it.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # torch.compile the training step's forward and loss: ~10% more tokens/s on the `default`
    # 2-layer model on 2 quiet CPU cores after a 12-45 s cold compile per run (LOG.md round 5),
    # more on a GPU. Where no compiler is at hand the step falls back to eager, with the same
    # results to float tolerance.
    compile: bool = False
    # Arithmetic of the training step's forward pass, CUDA only (the weights, the optimizer, the
    # snapshots and every metric stay fp32): "fp32" (true fp32 matmuls), "tf32" (fp32 matmuls
    # on the tensor cores, 10-bit mantissa), "bf16" (autocast: matmuls and attention in bfloat16).
    precision: Literal["fp32", "tf32", "bf16"] = "fp32"
    # When a run stops: "steps" (after `steps`) or "plateau" (when its phase change is over,
    # `training.core.analysis.trajectory.phase_over` on the live metrics at each snapshot;
    # `steps` is then the cap, and a run that reaches it first is marked unfinished).
    stop: Literal["steps", "plateau"] = "steps"
    # plateau: the stretch after the phase window (the max prefix-matching score's rise) must
    # last this many times the window's width ...
    plateau_margin: float = 0.5
    # ... and the ICL score move over it by at most this share of its range over training
    plateau_icl_tolerance: float = 0.2

    def __post_init__(self) -> None:
        _check(self.steps >= 1, "train.steps", "must be positive")
        _check(self.plateau_margin > 0, "train.plateau_margin", "must be positive")
        _check(0 < self.plateau_icl_tolerance < 1, "train.plateau_icl_tolerance", "must be in (0, 1)")
        _check(
            self.stop == "steps" or self.schedule == "constant",
            "train.stop",
            "plateau needs train.schedule=constant (a decaying rate is planned for a known length)",
        )
        _check(self.batch_size >= 1, "train.batch_size", "must be positive")
        _check(self.lr > 0, "train.lr", "must be positive")
        _check(self.warmup_steps >= 0, "train.warmup_steps", "must be >= 0")
        _check(0.0 <= self.min_lr_fraction <= 1.0, "train.min_lr_fraction", "must be in [0, 1]")
        _check(self.log_snapshots + self.linear_snapshots >= 2, "train.log_snapshots", "too few snapshots")
        _check(self.eval_sequences >= 1, "train.eval_sequences", "must be positive")
        _check(self.resume_every >= 1, "train.resume_every", "must be positive")
        _check(self.threads >= 1, "train.threads", "must be positive")


@dataclass(frozen=True)
class AnalysisConfig:
    eval_sequences: int = 32  # held-out contexts for loss by position, ICL, head scores, DLA, ablations
    eval_seed: int = 4321  # differs from training's held-out loss batch on purpose
    prefix_sequences: int = 10  # the paper's evaluator: 10 sequences ...
    prefix_random: int = 25  # ... of 25 random tokens ...
    prefix_repeats: int = 4  # ... repeated 4 times after a BOS
    prefix_exclude: float = 0.1  # leave out the 10% most and least common token types
    prefix_seed: int = 0  # the random tokens of the prefix-matching sequences
    icl_late: int | None = None  # None: the paper's 500 of 512, scaled to n_ctx
    icl_early: int | None = None  # None: the paper's 50 of 512, scaled to n_ctx
    icl_width: int | None = None  # average each index's loss over +-width indices; None: n_ctx // 64
    # The ICL score the claims read (`icl_wide`), on this many other held-out contexts: on the 32
    # above its bootstrap standard error was ~0.3 nats of level (issue 12); only the indices it
    # reads are unembedded (`Transformer.losses_at`), ~0.45 s a snapshot on the default models
    icl_sequences: int = 512
    icl_seed: int = 2468  # which held-out contexts the wide ICL score reads
    pca_tokens: int = 2000  # per-token-loss vectors: this many held-out tokens ...
    pca_tokens_per_context: int = 1  # ... this many per context (the paper: 1, each from its own)
    pca_seed: int = 99  # which held-out tokens the per-token-loss vectors hold
    pca_components: int = 5  # components of the joint PCA stored in pca.json
    ablations: bool = True  # mean and pattern-preserving ablation of every head (False: none)
    ablation_every: int = 1  # ablate every head at every k-th snapshot (and the last) ...
    # ... and at every k-th inside the run's phase window (None: `ablation_every`), where the
    # claims and the before-and-after projection read them (the window: where the trainer's
    # plateau rule found it, or on the live curves)
    ablation_every_in_window: int | None = None
    composition_baseline_samples: int = 100  # random matrices whose mean composition score is subtracted
    # The copying score's sample of token types, scored among each other as in the paper (the
    # whole vocabulary puts every head, copying or not, near -1: issue 12)
    copying_tokens: int = 50
    copying_seed: int = 7  # which token types `copying_ov` scores

    def __post_init__(self) -> None:
        _check(self.eval_sequences >= 1, "analysis.eval_sequences", "must be positive")
        _check(self.icl_sequences >= 2, "analysis.icl_sequences", "must be at least 2")
        _check(self.prefix_sequences >= 1, "analysis.prefix_sequences", "must be positive")
        _check(self.prefix_random >= 2, "analysis.prefix_random", "must be at least 2")
        _check(self.prefix_repeats >= 2, "analysis.prefix_repeats", "must be at least 2")
        _check(0 <= self.prefix_exclude < 0.5, "analysis.prefix_exclude", "must be in [0, 0.5)")
        _check(self.pca_tokens >= 8, "analysis.pca_tokens", "must be at least 8")
        _check(self.pca_tokens_per_context >= 1, "analysis.pca_tokens_per_context", "must be positive")
        _check(self.pca_components >= 1, "analysis.pca_components", "must be positive")
        _check(self.ablation_every >= 1, "analysis.ablation_every", "must be positive")
        _check(
            self.ablation_every_in_window is None or self.ablation_every_in_window >= 1,
            "analysis.ablation_every_in_window",
            "must be positive (or none)",
        )
        _check(self.copying_tokens >= 2, "analysis.copying_tokens", "must be at least 2")

    def settings_hash(self) -> str:
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RunSpec:
    name: str
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig fields this run changes
    description: str = ""
    # TrainConfig fields this run changes (e.g. its learning rate); its budget and stop rule have
    # their own fields below, and the seed and threads are the suite's (`--seeds`, the lanes).
    # `--set train.X=V` sets X for every run: it replaces the runs' own X.
    train: dict[str, Any] = field(default_factory=dict)
    # This run's step budget (None: `train.steps`). The schedule is constant after warm-up, so a
    # shorter run is the first `steps` steps of a longer one; `--set train.steps=N` sets every
    # run to N.
    steps: int | None = None
    # This run's stop rule (None: `train.stop`): "plateau" for a run whose phase change decides
    # its length, "steps" for one that must cover a fixed stretch (a control); `--set
    # train.stop=X` sets every run to X.
    stop: Literal["steps", "plateau"] | None = None
    # Seeds (`--seeds N`): how many seeds of this run the suite trains, itself included; and, on a
    # seed replicate, the run it repeats and its `k` (it trains with train.seed + k).
    seeds: int = 1
    repeats: str | None = None
    seed_offset: int = 0

    def __post_init__(self) -> None:
        _check(self.steps is None or self.steps >= 1, f"runs.{self.name}.steps", "must be positive")
        _check(self.seeds >= 1, f"runs.{self.name}.seeds", "must be a positive integer")
        own = sorted(set(self.train) & {"steps", "stop", "seed", "threads"})
        _check(not own, f"runs.{self.name}.train", f"may not set {', '.join(own)} (see RunSpec)")

    def replicate(self, k: int) -> RunSpec:
        """The k-th seed replicate of this run: `<name>-seed{k}`, the same in everything but its
        training seed, train.seed + k (the model's initial weights and the order of its batches)."""
        return dataclasses.replace(
            self,
            name=replicate_name(self.name, k),
            description=f"{self.description or self.name}; replicate with train.seed + {k}",
            seeds=1,
            repeats=self.name,
            seed_offset=k,
        )


def replicate_name(run: str, k: int) -> str:
    """The name of run `run`'s k-th seed replicate (k >= 1)."""
    return f"{run}-seed{k}"


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    runs: tuple[RunSpec, ...]
    analysis: AnalysisConfig = field(default_factory=lambda: AnalysisConfig())
    llc: LLCConfig = field(default_factory=lambda: LLCConfig())
    # Runs trained side by side after the first (which trains alone, with all threads), each
    # with train.threads // lanes threads: on 2 cores two 1-thread lanes finish the `default`
    # suite sooner than one 2-thread run at a time (bench/lanes.py, experiments/LOG.md round 8)
    lanes: int = 1

    def __post_init__(self) -> None:
        _check(self.lanes >= 1, "lanes", "must be a positive integer")
        names = [r.name for r in self.runs]
        unknown = [r for r in self.llc.runs if r not in names]
        _check(
            not unknown, "llc.runs", f"names no run of preset {self.name!r}: {unknown[:1]}; runs: {', '.join(names)}"
        )

    def run_model(self, run: RunSpec, d_vocab: int) -> ModelConfig:
        return replace_checked(self.model, "model", {**run.model, "d_vocab": d_vocab})

    def run_train(self, run: RunSpec) -> TrainConfig:
        changes: dict[str, Any] = dict(run.train)
        if run.steps is not None:
            changes["steps"] = run.steps
        if run.stop is not None:
            changes["stop"] = run.stop
        if run.seed_offset:
            changes["seed"] = self.train.seed + run.seed_offset
        return replace_checked(self.train, "train", changes) if changes else self.train

    def select_runs(self, names: list[str] | None, seeds: int = 1) -> tuple[RunSpec, ...]:
        """The runs `names` (None: all) in the preset's order; with `seeds` > 1, each marked to
        plan that many seeds and followed, round by round, by its replicates (`RunSpec.replicate`):
        every chosen run's first replicate, then every second one, ..."""
        _check(seeds >= 1, "--seeds", f"must be a positive integer, got {seeds}")
        known = {r.name: r for r in self.runs}
        unknown = [n for n in names or [] if n not in known]
        if unknown:
            raise ConfigError(f"--runs: unknown run {unknown[0]!r} in preset {self.name!r}; runs: {', '.join(known)}")
        chosen = tuple(known[n] for n in names) if names else self.runs
        if seeds == 1:
            return chosen
        chosen = tuple(dataclasses.replace(r, seeds=seeds) for r in chosen)
        replicates = tuple(r.replicate(k) for k in range(1, seeds) for r in chosen)
        clash = [r.name for r in replicates if r.name in known]
        if clash:
            raise ConfigError(f"--seeds: replicate {clash[0]!r} would take the name of a run of preset {self.name!r}")
        return chosen + replicates


def parse_value(key: str, raw: str, annotation: Any) -> Any:
    """Parse `raw` as the (resolved) type `annotation`; raise ConfigError naming `key`."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        choices = typing.get_args(annotation)
        if raw not in choices:
            raise ConfigError(f"{key}: {raw!r} is not one of {', '.join(map(str, choices))}")
        return raw
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if raw.lower() in ("none", "null") and len(options) < len(typing.get_args(annotation)):
            return None
        return parse_value(key, raw, options[0])
    if annotation is bool:
        if raw.lower() in ("true", "1", "yes", "on"):
            return True
        if raw.lower() in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true or false, got {raw!r}")
    if annotation in (int, float):
        try:
            value = float(raw) if annotation is float else int(raw.replace("_", ""))
        except ValueError:
            raise ConfigError(f"{key}: expected {annotation.__name__}, got {raw!r}") from None
        return value
    if annotation is str:
        return raw
    if origin is tuple and typing.get_args(annotation)[1:] == (Ellipsis,):  # a comma-separated list
        item = typing.get_args(annotation)[0]
        return tuple(parse_value(key, part.strip(), item) for part in raw.split(",") if part.strip())
    raise ConfigError(f"{key}: cannot be set from the command line")


def replace_checked(config: Any, section: str, changes: dict[str, Any]) -> Any:
    """`dataclasses.replace` that rejects unknown fields by name and re-runs validation."""
    names = {f.name for f in dataclasses.fields(config)}
    for key in changes:
        if key not in names:
            raise ConfigError(f"unknown key {section}.{key}; known: {', '.join(sorted(names))}")
    return dataclasses.replace(config, **changes)


def override(configs: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `section.field=value` strings to the named configs; returns them replaced and
    re-validated. Unknown sections or fields and badly typed values raise ConfigError naming them."""
    names = list(configs)
    shape = " or ".join(filter(None, [", ".join(f"{n}.X" for n in names[:-1]), f"{names[-1]}.X"]))
    changes: dict[str, dict[str, Any]] = {name: {} for name in names}
    for item in overrides:
        if "=" not in item:
            example = "train.lr=1e-3" if "train" in configs else f"{names[-1]}.X=1"
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. {example}")
        key, raw = item.split("=", 1)
        section, _, name = key.strip().partition(".")
        if section not in configs or not name:
            raise ConfigError(f"unknown key {key!r}: keys look like {shape}")
        hints = typing.get_type_hints(type(configs[section]))
        if name not in hints:
            known = ", ".join(f.name for f in dataclasses.fields(configs[section]))
            raise ConfigError(f"unknown key {key!r}; known {section} keys: {known}")
        changes[section][name] = parse_value(key, raw.strip(), hints[name])
    return {name: replace_checked(config, name, changes[name]) for name, config in configs.items()}


def apply_overrides(preset: Preset, overrides: list[str]) -> Preset:
    """Apply `section.field=value` strings (sections: data, model, train, analysis, llc)."""
    sections = ("data", "model", "train", "analysis", "llc")
    changed = dataclasses.replace(preset, **override({s: getattr(preset, s) for s in sections}, overrides))
    keys = {item.split("=", 1)[0].strip() for item in overrides}
    for key, name in (("train.steps", "steps"), ("train.stop", "stop")):
        if key in keys:  # an explicit step count or stop rule is for every run: it replaces the runs' own
            changed = dataclasses.replace(
                changed, runs=tuple(dataclasses.replace(r, **{name: None}) for r in changed.runs)
            )
    train_keys = {key.partition(".")[2] for key in keys if key.startswith("train.")}
    if train_keys:  # likewise any train.X: it replaces what a run sets for itself
        changed = dataclasses.replace(
            changed,
            runs=tuple(
                dataclasses.replace(r, train={k: v for k, v in r.train.items() if k not in train_keys})
                for r in changed.runs
            ),
        )
    return changed
