"""Live metrics in a Hugging Face `Trainer`: `InductionScopeCallback`.

    from training.pipeline.hf_callback import InductionScopeCallback

    trainer = Trainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                      callbacks=[InductionScopeCallback("artifacts", suite="mine", run="gpt2-2l")])
    trainer.train()

At every save (`save_steps`) the callback measures the model in memory through a `Watcher`
(`training.pipeline.watch`): on the main process only, under `torch.no_grad()`, the RNG state
restored and the model back in training mode, so the run trains exactly as without it. The
logged training loss, the step count and the tokens seen (`include_num_input_tokens_seen`) go
into the suite as our own trainer writes them.
"""

from __future__ import annotations

from pathlib import Path

from transformers import TrainerCallback

from training.pipeline.watch import Watcher


class InductionScopeCallback(TrainerCallback):
    """Writes the live tier of a `Trainer` run into `<out>/<suite>/<run>` at every save."""

    def __init__(self, out: Path | str, suite: str, run: str, *, tokenizer=None, log=print, **watcher_options):
        self.out, self.suite, self.run, self.tokenizer = out, suite, run, tokenizer
        self.options, self.log = watcher_options, log
        self.watcher: Watcher | None = None

    def on_train_begin(self, args, state, control, processing_class=None, **kwargs):
        if not state.is_world_process_zero:
            return
        tokenizer = self.tokenizer or processing_class
        if tokenizer is None:
            raise ValueError("InductionScopeCallback: no tokenizer; pass tokenizer= or Trainer(processing_class=...)")
        tokens_per_step = self.options.pop("tokens_per_step", 0)
        self.watcher = Watcher(
            self.out,
            self.suite,
            self.run,
            tokenizer,
            total_steps=state.max_steps or None,
            tokens_per_step=tokens_per_step,
            log=self.log,
            **self.options,
        )

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.watcher is not None and logs and "loss" in logs:
            self.watcher.record_loss(state.global_step, float(logs["loss"]))

    def on_step_end(self, args, state, control, **kwargs):
        if self.watcher is not None:
            self.watcher.progress(state.global_step, state.max_steps)

    def on_save(self, args, state, control, model=None, **kwargs):
        if self.watcher is not None and model is not None:
            tokens = state.num_input_tokens_seen or None
            self.watcher.snapshot(model, state.global_step, tokens_seen=tokens)

    def on_train_end(self, args, state, control, **kwargs):
        if self.watcher is not None:
            self.watcher.close()
