"""Training throughput benchmark: dialsum_nb.train.train_model against the original system's HF Trainer settings.

Issue: "Speed -- one prepared benchmark script, kept in the repo, run on a GPU". No numbers are claimed from this
script until it has been run on a GPU; a CPU run (`--small`) only proves the code path.

Run on the GPU machine (torch, transformers, peft, accelerate; no nbdev/papermill needed) from the repository root:

    python nbs/gpu/train_bench.py --out $OUT/train_bench.json      # the full run: well under 6 minutes on an H100/H200
    python nbs/gpu/train_bench.py --out $OUT/train_bench.json --skip-llama # KoBART part only (about 1-2 minutes)
    python nbs/gpu/train_bench.py --out /tmp/train_bench.json --small  # tiny shapes: a smoke test, CPU too (< 2 min)

The repository root is put on sys.path, so `dialsum_nb` imports without `pip install -e . --no-deps` (that works too).

Time budget of the default GPU run (estimated from the throughput anchors in FACTS.md section 6, H200): each run is
--warmup 10 + --steps 60 optimizer steps. KoBART baseline (70 x 8 samples at ~150/s) about 5 s, ours bs 32 and bs 64
(70 x 64 samples at ~200/s) about 25 s each, plus tokenising 2,000 synthetic dialogues per run and model builds
(seconds); Llama-3.2-3B shape + LoRA at bs 4, seq 1024 (70 x 4,096 tokens at ~20k tokens/s) about 15 s per run,
plus random init on the GPU. Expected total 2-3 minutes on an H100/H200 and under 6 minutes in any case, which
leaves room to rerun inside a 10-minute command limit. Smaller GPU: --llama-layers 8 (or --skip-llama).
The JSON is rewritten after every run, so a run cut short leaves results.

What is measured (one process, one GPU, each run on a freshly built, identically seeded random-init model):

1. KoBART shape (BartForConditionalGeneration, d_model 768, 6+6 layers, 16 heads, ffn 3072, vocab 30,000,
   1026 positions: ~124M parameters), trained on N (default 2,000) synthetic dialogues whose token lengths follow the
   competition dev set (dialogue mean ~200 tokens, max 640, truncated at 512; summary mean ~45, max 140).
   - baseline: HF `Seq2SeqTrainer` with the original system's settings: fp16=True, per_device_train_batch_size 8,
     inputs padded to max_length 512 (padding='max_length'), labels padded to 128 with -100, no length grouping,
     the Trainer's default optimizer (recorded in the JSON: `adamw_torch_fused` in transformers 5; --baseline-optim
     adamw_torch gives the unfused AdamW of older transformers), label smoothing 0.1, report_to=[], no eval/saving.
   - ours: `dialsum_nb.train.train_model` with the kobart config (scale full), the precision plan
     `resolve_precision(detect_hardware(), 'float32', 'full', 'auto')` (bf16 autocast over fp32 weights on
     H100/H200, no GradScaler), batch sizes --batches (default 32,64), length-grouped batches with dynamic padding
     (to a multiple of 8 on CUDA), fused AdamW (train.py picks it on CUDA when every trainable weight is fp32),
     eval and checkpointing off (`train.eval_strategy: no`, `train.save_strategy: no`, `tracking.wandb: false`).
2. Llama-3.2-3B shape (LlamaForCausalLM: hidden 3072, 28 layers (--llama-layers), 24 heads, 8 KV heads,
   intermediate 8192, vocab 128,256), bf16 base weights, peft LoRA r 16 / alpha 32 / dropout 0.05 on all linear
   layers (q,k,v,o,gate,up,down; adapters fp32), every example exactly 1,024 tokens (prompt + summary + eos, the
   prompt masked out of the loss):
   - baseline: HF `Trainer` defaults with bf16=True, batch 4, no gradient checkpointing.
   - ours: train_model with the llama-3.2-korean-3b config and the plan resolve_precision(hw, 'bfloat16', 'lora',
     'auto'), batch --llama-batches (default 4), gradient accumulation 1, eval/saving off.
   The peft model is built directly (get_peft_model with the same settings as dialsum_nb.models.load_model), not
   through load_model: load_model reads a checkpoint folder, and writing a random 3B model to disk first would only
   add minutes of I/O, not change what is trained. Skip this part with --skip-llama; shrink it with --llama-layers.

Synthetic text and tokenizer: train_model tokenises a DataFrame-like `{'dialogue': [...], 'summary': [...]}` itself
(encode_example), so the honest route is a real tokenizer: a `PreTrainedTokenizerFast` over a WordLevel vocabulary
of V pseudo-words `t5..t{V-1}` (plus <s> <pad> </s> <unk> <mask>), whitespace pre-tokenised. One word is exactly one
token, so token lengths are controlled exactly, and both systems get identical token ids. The Llama config's prompt
template is overridden to `{dialogue}` without chat template, so the prompt is the synthetic words alone.

Timing (the same for both systems): wall-clock time from the end of optimizer step --warmup to the end of the last
step (baseline: a TrainerCallback that synchronises CUDA at those two steps only; ours: the `time` stamps of
metrics.jsonl's train records). Samples and real (non-pad) tokens in those steps are counted by a forward pre-hook on
the model (seq2seq: attention-mask ones + label tokens; causal: attention-mask ones -- train.py's definition).
metrics.jsonl's own per-step samples_per_s / tokens_per_s / peak_memory_mb are reported next to it as a cross-check.
Peak memory is torch.cuda.max_memory_allocated(), reset before each model is built (weights + optimizer states +
activations). MFU ~= 6 x parameters x real tokens/s / dense bf16/fp16 peak of the GPU (H100 SXM and H200 989e12,
H100 PCIe 756e12, A100 312e12, else null); for LoRA the backward pass skips the frozen weights' gradients, so
4 x parameters is also given (`mfu_4n`). Goal stated in the output: ours >= 3x baseline samples/s at no more memory
per sample.
"""

import argparse, gc, json, math, os, sys, tempfile, time, traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the repository root: dialsum_nb without installing

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--out", required=True, help="path of the JSON results file")
p.add_argument("--steps", type=int, default=None, help="timed optimizer steps per run (default 60; --small: 4)")
p.add_argument("--warmup", type=int, default=None, help="untimed optimizer steps first (default 10; --small: 2)")
p.add_argument("--n", type=int, default=None, help="synthetic KoBART training dialogues (default 2000; --small: 96)")
p.add_argument("--batches", default=None, help="our batch sizes for KoBART (default 32,64; --small: 16)")
p.add_argument("--baseline-batch", type=int, default=8)
p.add_argument(
    "--baseline-optim", default=None, help="HF Trainer optim for the baselines (default: the Trainer's default)"
)
p.add_argument("--skip-llama", action="store_true", help="skip the Llama-3.2-3B-shape LoRA part")
p.add_argument("--llama-layers", type=int, default=28, help="decoder layers of the Llama shape (28 = Llama-3.2-3B)")
p.add_argument("--llama-seq", type=int, default=None, help="tokens per Llama example (default 1024; --small: 128)")
p.add_argument("--llama-batches", default="4", help="our batch sizes for the Llama part (baseline: 4)")
p.add_argument(
    "--small", action="store_true", help="tiny shapes and data: proves the script runs (CPU too); not a benchmark"
)
p.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
args = p.parse_args()
if args.device == "cpu":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch is imported
os.environ.setdefault(
    "DIALSUM_NO_PROGRESS", "1"
)  # train_model's tqdm bar off: no terminal output inside the timed loop

import numpy as np
import torch
import transformers

CUDA = torch.cuda.is_available()
if args.device == "cuda" and not CUDA:
    sys.exit("--device cuda: torch sees no CUDA GPU here. Use --device auto (CPU smoke run with --small).")
forced_small = not CUDA and not args.small
if forced_small:
    print(
        "No CUDA GPU: switching to --small (a CPU run of the full shapes would take hours and measure nothing).",
        flush=True,
    )
    args.small = True
SMALL = args.small
STEPS = args.steps if args.steps is not None else (4 if SMALL else 60)
WARMUP = args.warmup if args.warmup is not None else (2 if SMALL else 10)
if STEPS < 1 or WARMUP < 1:
    sys.exit("--steps and --warmup must be >= 1 (the first step is never timed).")
N = args.n if args.n is not None else (96 if SMALL else 2000)
OUR_BATCHES = [int(b) for b in (args.batches or ("16" if SMALL else "32,64")).split(",")]
LLAMA_BATCHES = [int(b) for b in args.llama_batches.split(",")]
LLAMA_SEQ = args.llama_seq or (128 if SMALL else 1024)
DEV = torch.device("cuda" if CUDA else "cpu")
GPU = torch.cuda.get_device_name(0) if CUDA else None
BF16_OK = CUDA and torch.cuda.is_bf16_supported()


def peak_dense_flops(name):
    "Dense bf16/fp16 tensor-core peak (no sparsity) of known GPUs, else None."
    if not name:
        return None
    n = name.upper()
    if "H200" in n:
        return 989e12
    if "H100" in n:
        return 756e12 if "PCIE" in n else 989e12
    if "A100" in n:
        return 312e12
    return None


PEAK = peak_dense_flops(GPU)
try:
    import peft

    PEFT = peft.__version__
except ImportError as e:
    PEFT = None
try:
    from dialsum_nb.config import load_config
    from dialsum_nb.precision import resolve_precision, detect_hardware, guard_trainable_params
    from dialsum_nb.train import train_model

    HAVE_OURS, OURS_ERR = True, None
except Exception as e:  # the baselines still run
    HAVE_OURS, OURS_ERR = False, f"{type(e).__name__}: {e}"

res = dict(
    device="cuda" if CUDA else "cpu",
    note=(
        "CPU smoke run; not a benchmark"
        if not CUDA
        else (
            "--small: tiny shapes, not a benchmark"
            if SMALL
            else "GPU benchmark: random-init models, synthetic dev-like lengths"
        )
    ),
    goal="ours >= 3x baseline samples/s at no more memory per sample (KoBART shape)",
    env=dict(
        gpu=GPU,
        torch=torch.__version__,
        transformers=transformers.__version__,
        peft=PEFT,
        accelerate=__import__("accelerate").__version__,
        cuda=torch.version.cuda,
        bf16_supported=BF16_OK,
        peak_dense_flops=PEAK,
        cpu_threads=torch.get_num_threads(),
        started=time.strftime("%Y-%m-%dT%H:%M:%S"),
    ),
    settings=dict(
        small=SMALL,
        forced_small=forced_small,
        steps=STEPS,
        warmup=WARMUP,
        n=N,
        our_batches=OUR_BATCHES,
        baseline_batch=args.baseline_batch,
        baseline_optim=args.baseline_optim,
        skip_llama=args.skip_llama,
        llama_layers=args.llama_layers,
        llama_seq=LLAMA_SEQ,
        llama_batches=LLAMA_BATCHES,
    ),
    runs=[],
    skipped=[],
    errors=[],
)
if not HAVE_OURS:
    res["skipped"].append({"part": "ours", "reason": OURS_ERR})


def save():
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1, default=str))


save()


def sync():
    if CUDA:
        torch.cuda.synchronize()


def reset():
    gc.collect()
    if CUDA:
        sync()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_mb():
    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if CUDA else None


def guarded(name, fn):
    try:
        fn()
    except Exception as e:
        res["errors"].append(
            dict(
                name=name, error=f"{type(e).__name__}: {e}".splitlines()[0][:500], trace=traceback.format_exc()[-3000:]
            )
        )
        save()
        print(f"{name} FAILED: {type(e).__name__}: {e}", flush=True)
    finally:
        reset()


# ---- synthetic data and tokenizer -----------------------------------------------------------------------------------
from tokenizers import Tokenizer, models as tk_models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0..4: bos, pad, eos, unk, mask
PAD_ID, EOS_ID = 1, 2


def word_tokenizer(V):
    "One pseudo-word `t{i}` = token id i; BART-style <s> ... </s> around single sequences."
    vocab = {t: i for i, t in enumerate(SPECIALS)} | {f"t{i}": i for i in range(len(SPECIALS), V)}
    core = Tokenizer(tk_models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        mask_token="<mask>",
        padding_side="right",
    )


def lognormal_lengths(rng, n, mean, lo, hi, sigma):
    return np.clip(rng.lognormal(math.log(mean) - sigma**2 / 2, sigma, n), lo, hi).astype(int)


def words(rng, V, L):
    return " ".join(f"t{t}" for t in rng.integers(len(SPECIALS), V, L))


def timed_span(times: dict, counts: list, first: int, last: int) -> dict:
    "Samples and real tokens of optimizer steps first+1..last (forward i = step i+1), over the wall time between them."
    secs = times[last] - times[first]
    rows = counts[first:last]
    samples = sum(r[0] for r in rows)
    tokens = sum(r[1] for r in rows)
    return dict(
        timed_steps=last - first,
        seconds=round(secs, 3),
        samples=samples,
        real_tokens=tokens,
        padded_tokens=sum(r[2] for r in rows),
        samples_per_s=round(samples / secs, 2),
        tokens_per_s=round(tokens / secs, 1),
    )


class Counter:
    "Forward pre-hook: (rows, real tokens, padded tokens) of each training forward; sums stay on the device till read."

    # The HF Trainer with label smoothing pops `labels` before the forward and computes the loss itself, so the
    # baseline's target tokens are counted from `decoder_input_ids` (pad = PAD_ID, never a synthetic word).
    def __init__(self, family):
        self.family, self.raw = family, []

    def __call__(self, module, a, kw):
        if not module.training:
            return
        ids, mask, labels = kw.get("input_ids"), kw.get("attention_mask"), kw.get("labels")
        if ids is None:
            return
        real = mask.sum() if mask is not None else torch.tensor(ids.numel())
        dec = kw.get("decoder_input_ids")
        if self.family == "seq2seq" and labels is not None:
            real = real + (labels != -100).sum()
        elif self.family == "seq2seq" and dec is not None:
            real = real + (dec != PAD_ID).sum()  # [start] + labels[:-1]: as many
        tgt = labels if labels is not None else dec
        padded = ids.numel() + (tgt.numel() if self.family == "seq2seq" and tgt is not None else 0)
        self.raw.append((ids.shape[0], real.detach(), padded))

    def rows(self):
        return [(r, int(t), pdd) for r, t, pdd in self.raw]


def finish_row(row, params, batch, flops_factors=(6,)):
    "Add memory per sample and MFU; append to the results."
    if row.get("peak_memory_mb") is not None:
        row["memory_per_sample_mb"] = round(row["peak_memory_mb"] / batch, 1)
    for f in flops_factors:
        key = "mfu" if f == 6 else f"mfu_{f}n"
        row[key] = round(f * params * row["tokens_per_s"] / PEAK, 4) if PEAK else None
    res["runs"].append(row)
    save()
    print(json.dumps({k: v for k, v in row.items() if k not in ("plan", "metrics_jsonl")}), flush=True)
    return row


def hf_trainer_run(
    name, part, model, dataset, batch, trainer_cls, args_cls, precision_kw, params, extra_args=None, extra=None
):
    "Train `model` with an HF Trainer for WARMUP + STEPS optimizer steps; time steps WARMUP..end."
    from transformers import TrainerCallback, default_data_collator

    times = {}

    class StepTimer(TrainerCallback):
        def on_step_end(self, a, state, control, **kw):
            if state.global_step in (WARMUP, WARMUP + STEPS):
                sync()
                times[state.global_step] = time.time()

    counter = Counter("seq2seq" if part == "kobart" else "causal")
    hook = model.register_forward_pre_hook(counter, with_kwargs=True)
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state()
    GradientState._reset_state()  # a previous run's mixed-precision setting must not leak in
    with tempfile.TemporaryDirectory() as d:
        kw = dict(
            output_dir=d,
            per_device_train_batch_size=batch,
            max_steps=WARMUP + STEPS,
            learning_rate=5e-5,
            weight_decay=0.01,
            max_grad_norm=1.0,
            warmup_steps=math.ceil(0.1 * (WARMUP + STEPS)),
            lr_scheduler_type="linear",
            eval_strategy="no",
            save_strategy="no",
            report_to=[],
            logging_steps=10**6,
            disable_tqdm=True,
            train_sampling_strategy="random",
            seed=42,
            gradient_accumulation_steps=1,
            dataloader_num_workers=0,
            use_cpu=not CUDA,
            **precision_kw,
            **(extra_args or {}),
        )
        if args.baseline_optim:
            kw["optim"] = args.baseline_optim
        targs = args_cls(**kw)
        trainer = trainer_cls(
            model=model,
            args=targs,
            train_dataset=dataset,
            data_collator=default_data_collator,
            callbacks=[StepTimer()],
        )
        t0 = time.time()
        trainer.train()
        sync()
        total = time.time() - t0
        optim = str(getattr(targs.optim, "value", targs.optim))
        opt_cls = type(
            trainer.optimizer.optimizer if hasattr(trainer.optimizer, "optimizer") else trainer.optimizer
        ).__name__
        del trainer
    hook.remove()
    row = dict(
        name=name,
        part=part,
        system="baseline",
        batch_size=batch,
        **{k: v for k, v in precision_kw.items()},
        optim=optim,
        optimizer_class=opt_cls,
        total_train_seconds=round(total, 1),
        **(extra or {}),
        **timed_span(times, counter.rows(), WARMUP, WARMUP + STEPS),
        peak_memory_mb=peak_mb(),
    )
    return row


def ours_run(name, part, model, cfg, plan, data, batch, params):
    "train_model for WARMUP + STEPS steps; timing from metrics.jsonl's time stamps, counts from the forward hook."
    counter = Counter(cfg.model.family)
    hook = model.register_forward_pre_hook(counter, with_kwargs=True)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.time()
        result = train_model(cfg, model, tok_for[part], data, d, eval_fn=None, mixed_precision=plan.mixed_precision)
        sync()
        total = time.time() - t0
        recs = [json.loads(l) for l in (Path(d) / "metrics.jsonl").read_text().splitlines() if l.strip()]
    hook.remove()
    train = [r for r in recs if r.get("kind") == "train"]
    times = {r["step"]: r["time"] for r in train}
    if result.steps != WARMUP + STEPS:
        raise RuntimeError(f"train_model ran {result.steps} steps, expected {WARMUP + STEPS}")
    rows = counter.rows()
    if len(rows) != len(train):
        raise RuntimeError(f"{len(rows)} forwards for {len(train)} optimizer steps (expected one each)")
    span = timed_span(times, rows, WARMUP, WARMUP + STEPS)
    # metrics.jsonl's own per-step rates over the same steps: total samples / sum of per-step times
    later = [(r, c) for r, c in zip(train, rows) if r["step"] > WARMUP]
    step_secs = sum(c[0] / r["samples_per_s"] for r, c in later)
    jsonl_tok = sum(r["tokens_per_s"] * c[0] / r["samples_per_s"] for r, c in later)
    trainable = [q for q in model.parameters() if q.requires_grad]
    fused = CUDA and all(q.dtype == torch.float32 for q in trainable)
    row = dict(
        name=name,
        part=part,
        system="ours",
        batch_size=batch,
        mixed_precision=plan.mixed_precision,
        plan=plan.summary(),
        fused_adamw=fused,
        group_by_length=cfg.train.group_by_length,
        total_train_seconds=round(total, 1),
        **span,
        peak_memory_mb=peak_mb(),
        metrics_jsonl=dict(
            samples_per_s=round(span["samples"] / step_secs, 2),
            tokens_per_s=round(jsonl_tok / step_secs, 1),
            tokens_match_hook=abs(jsonl_tok - span["real_tokens"]) <= 1e-6 * max(1, span["real_tokens"]) + 1,
            peak_memory_mb=train[-1]["peak_memory_mb"],
            final_loss=result.final_loss,
        ),
        tf32_in_plan=plan.tf32,
        tf32_matmul_active=bool(CUDA and torch.backends.cuda.matmul.allow_tf32),
    )
    return row


tok_for = {}

# ---- 1. KoBART shape ------------------------------------------------------------------------------------------------
from transformers import BartConfig, BartForConditionalGeneration, Seq2SeqTrainer, Seq2SeqTrainingArguments

KV = 1000 if SMALL else 30000
KSHAPE = (
    dict(
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
    )
    if SMALL
    else dict(
        d_model=768,
        encoder_layers=6,
        decoder_layers=6,
        encoder_attention_heads=16,
        decoder_attention_heads=16,
        encoder_ffn_dim=3072,
        decoder_ffn_dim=3072,
    )
)
MAX_SRC, MAX_TGT = 512, 128
rng = np.random.default_rng(0)
d_len = lognormal_lengths(rng, N, 60 if SMALL else 200, 10, 160 if SMALL else 640, 0.5)
d_len[0] = 160 if SMALL else 640  # the longest dev-like dialogue is present (and truncated at 512)
s_len = lognormal_lengths(rng, N, 20 if SMALL else 45, 3, 60 if SMALL else 140, 0.45)
s_len[1] = 60 if SMALL else 140
K_DATA = {"dialogue": [words(rng, KV, L) for L in d_len], "summary": [words(rng, KV, L) for L in s_len]}
ktok = word_tokenizer(KV)
tok_for["kobart"] = ktok
kbart_cfg = BartConfig(
    vocab_size=KV,
    max_position_embeddings=1026,
    pad_token_id=1,
    bos_token_id=0,
    eos_token_id=2,
    decoder_start_token_id=2,
    forced_eos_token_id=2,
    dropout=0.1,
    **KSHAPE,
)


def build_kobart():
    torch.manual_seed(0)
    return BartForConditionalGeneration(kbart_cfg)


src_tokens = np.minimum(d_len + 2, MAX_SRC)
tgt_tokens = np.minimum(s_len, MAX_TGT - 1) + 1
res["kobart_setup"] = dict(
    shape=KSHAPE,
    vocab=KV,
    params=sum(q.numel() for q in build_kobart().parameters()),
    n=N,
    dialogue_tokens=dict(
        mean=round(float(src_tokens.mean()), 1),
        max=int(src_tokens.max()),
        truncated_rows=int((d_len + 2 > MAX_SRC).sum()),
    ),
    summary_tokens=dict(mean=round(float(tgt_tokens.mean()), 1), max=int(tgt_tokens.max())),
    baseline_padding=f"inputs padding=max_length {MAX_SRC}; labels padded to {MAX_TGT} with -100",
    ours_padding="dynamic, length-grouped (train.py epoch_batches), multiple of 8 on CUDA",
)
KPARAMS = res["kobart_setup"]["params"]
save()
print("kobart setup:", json.dumps(res["kobart_setup"]), flush=True)


def kobart_baseline():
    reset()
    enc = ktok(K_DATA["dialogue"], padding="max_length", truncation=True, max_length=MAX_SRC)
    ds = []
    for i, s in enumerate(K_DATA["summary"]):
        lab = ktok(s, add_special_tokens=False)["input_ids"][: MAX_TGT - 1] + [ktok.eos_token_id]
        # decoder_input_ids as DataCollatorForSeq2Seq(model=...) makes them: with label smoothing the Trainer pops the
        # labels,
        # and BART without labels or decoder_input_ids would decode the shifted *source* (512 positions)
        dec = [EOS_ID] + lab[:-1]  # decoder_start_token_id = eos for BART
        ds.append(
            {
                "input_ids": enc["input_ids"][i],
                "attention_mask": enc["attention_mask"][i],
                "labels": lab + [-100] * (MAX_TGT - len(lab)),
                "decoder_input_ids": dec + [PAD_ID] * (MAX_TGT - len(dec)),
            }
        )
    model = build_kobart()
    pk = dict(fp16=True) if CUDA else {}
    row = hf_trainer_run(
        f"kobart_baseline_hf_fp16_bs{args.baseline_batch}_pad{MAX_SRC}"
        if CUDA
        else f"kobart_baseline_hf_fp32_bs{args.baseline_batch}_pad{MAX_SRC}",
        "kobart",
        model,
        ds,
        args.baseline_batch,
        Seq2SeqTrainer,
        Seq2SeqTrainingArguments,
        pk,
        KPARAMS,
        extra_args=dict(label_smoothing_factor=0.1),
        extra=dict(padding=f"max_length {MAX_SRC}", group_by_length=False),
    )
    del model
    finish_row(row, KPARAMS, args.baseline_batch)


def timed_run_overrides(batch_size: int) -> dict:
    "What both of our timed runs set: WARMUP + STEPS optimizer steps, no evaluation, saving, tracking or logging."
    return {
        "train.batch_size": batch_size,
        "train.max_steps": WARMUP + STEPS,
        "train.gradient_accumulation_steps": 1,
        "train.eval_strategy": "no",
        "train.save_strategy": "no",
        "tracking.wandb": False,
        "train.group_by_length": True,
        "train.logging_steps": 10**6,
    }


def kobart_ours(bs):
    reset()
    hw = detect_hardware()
    plan = resolve_precision(hw, "float32", "full", "auto")
    cfg = load_config(
        "kobart",
        scale="full",
        overrides={
            **timed_run_overrides(bs),
            "train.max_source_length": MAX_SRC,
            "train.max_target_length": MAX_TGT,
        },
    ).config
    model = build_kobart().to(plan.load_torch_dtype).to(DEV)
    guard_trainable_params(model, plan)
    row = ours_run(f"kobart_ours_{plan.mode}_bs{bs}_dynamic", "kobart", model, cfg, plan, K_DATA, bs, KPARAMS)
    del model
    finish_row(row, KPARAMS, bs)


guarded("kobart_baseline", kobart_baseline)
if HAVE_OURS:
    for bs in OUR_BATCHES:
        guarded(f"kobart_ours_bs{bs}", lambda: kobart_ours(bs))

# ---- 2. Llama-3.2-3B shape + LoRA -----------------------------------------------------------------------------------
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
if args.skip_llama:
    res["skipped"].append({"part": "llama", "reason": "--skip-llama"})
elif PEFT is None:
    res["skipped"].append({"part": "llama", "reason": "peft is not importable"})
else:
    from transformers import LlamaConfig, LlamaForCausalLM, Trainer, TrainingArguments
    from peft import LoraConfig as PeftLoraConfig, get_peft_model, TaskType

    LV = 1000 if SMALL else 128256
    LSHAPE = (
        dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128)
        if SMALL
        else dict(
            hidden_size=3072,
            num_hidden_layers=args.llama_layers,
            num_attention_heads=24,
            num_key_value_heads=8,
            intermediate_size=8192,
        )
    )
    base_dtype = torch.bfloat16 if BF16_OK else torch.float32  # CPU smoke run: fp32
    n_llama = max(max(LLAMA_BATCHES + [4]) * 4, 32 if SMALL else 64)  # rows; epochs wrap as needed
    lrng = np.random.default_rng(1)
    l_sum = lognormal_lengths(lrng, n_llama, 20 if SMALL else 45, 3, 60 if SMALL else 140, 0.45)
    L_DATA = {
        "dialogue": [words(lrng, LV, LLAMA_SEQ - 1 - s) for s in l_sum],
        "summary": [words(lrng, LV, s) for s in l_sum],
    }
    ltok = word_tokenizer(LV)
    tok_for["llama"] = ltok
    llama_cfg = LlamaConfig(
        vocab_size=LV,
        max_position_embeddings=max(2048, LLAMA_SEQ),
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        tie_word_embeddings=True,
        rope_theta=500000.0,
        **LSHAPE,
    )

    def build_llama():
        "Random init directly on the device in the base dtype, then LoRA as dialsum_nb.models.load_model applies it."
        torch.manual_seed(0)
        old = torch.get_default_dtype()
        torch.set_default_dtype(base_dtype)
        try:
            with torch.device(DEV):
                model = LlamaForCausalLM(llama_cfg)
        finally:
            torch.set_default_dtype(old)
        pc = PeftLoraConfig(
            r=16, lora_alpha=32, lora_dropout=0.05, target_modules=LORA_TARGETS, task_type=TaskType.CAUSAL_LM
        )
        return get_peft_model(model, pc)

    m = build_llama()
    LPARAMS = sum(q.numel() for q in m.parameters())
    res["llama_setup"] = dict(
        shape=LSHAPE,
        vocab=LV,
        base_dtype=str(base_dtype),
        params=LPARAMS,
        trainable=sum(q.numel() for q in m.parameters() if q.requires_grad),
        adapter_dtypes=sorted({str(q.dtype) for q in m.parameters() if q.requires_grad}),
        seq_len=LLAMA_SEQ,
        rows=n_llama,
        lora=dict(r=16, alpha=32, dropout=0.05, targets=LORA_TARGETS),
        note="every example exactly seq_len tokens (no padding); prompt tokens masked from the loss",
    )
    del m
    reset()
    save()
    print("llama setup:", json.dumps(res["llama_setup"]), flush=True)

    def llama_baseline():
        reset()
        ds = []
        for dlg, s in zip(L_DATA["dialogue"], L_DATA["summary"]):
            pr = ltok(dlg, add_special_tokens=False)["input_ids"]
            tg = ltok(s, add_special_tokens=False)["input_ids"] + [ltok.eos_token_id]
            ds.append(
                {"input_ids": pr + tg, "attention_mask": [1] * (len(pr) + len(tg)), "labels": [-100] * len(pr) + tg}
            )
        model = build_llama()
        pk = dict(bf16=True) if BF16_OK else {}
        row = hf_trainer_run(
            f"llama_baseline_hf_{'bf16' if BF16_OK else 'fp32'}_bs4_seq{LLAMA_SEQ}",
            "llama",
            model,
            ds,
            4,
            Trainer,
            TrainingArguments,
            pk,
            LPARAMS,
            extra=dict(gradient_checkpointing=False, seq_len=LLAMA_SEQ),
        )
        del model
        finish_row(row, LPARAMS, 4, flops_factors=(6, 4))

    def llama_ours(bs):
        reset()
        plan = resolve_precision(detect_hardware(), "bfloat16", "lora", "auto")
        cfg = load_config(
            "llama-3.2-korean-3b",
            scale="full",
            overrides={
                "model.prompt_template": "'{dialogue}'",  # quoted: overrides are read as YAML
                "model.use_chat_template": False,
                **timed_run_overrides(bs),
                "train.max_source_length": LLAMA_SEQ,
                "train.gradient_checkpointing": False,
                "lora.r": 16,
                "lora.alpha": 32,
                "lora.dropout": 0.05,
            },
        ).config
        model = build_llama()
        guard_trainable_params(model, plan)
        row = ours_run(f"llama_ours_{plan.mode}_bs{bs}_seq{LLAMA_SEQ}", "llama", model, cfg, plan, L_DATA, bs, LPARAMS)
        row["seq_len"] = LLAMA_SEQ
        del model
        finish_row(row, LPARAMS, bs, flops_factors=(6, 4))

    guarded("llama_baseline", llama_baseline)
    if HAVE_OURS:
        for bs in LLAMA_BATCHES:
            guarded(f"llama_ours_bs{bs}", lambda: llama_ours(bs))


# ---- summary --------------------------------------------------------------------------------------------------------
def ratios(part):
    base = next((r for r in res["runs"] if r["part"] == part and r["system"] == "baseline"), None)
    if base is None:
        return {}
    out = {}
    for r in res["runs"]:
        if r["part"] != part or r["system"] != "ours":
            continue
        x = dict(
            samples_per_s=round(r["samples_per_s"] / base["samples_per_s"], 2),
            tokens_per_s=round(r["tokens_per_s"] / base["tokens_per_s"], 2),
        )
        if r.get("memory_per_sample_mb") and base.get("memory_per_sample_mb"):
            x["memory_per_sample"] = round(r["memory_per_sample_mb"] / base["memory_per_sample_mb"], 2)
            x["peak_memory"] = round(r["peak_memory_mb"] / base["peak_memory_mb"], 2)
        if part == "kobart":
            x["goal_met"] = (
                (x["samples_per_s"] >= 3 and x.get("memory_per_sample", 0) <= 1) if CUDA and not SMALL else None
            )
        out[r["name"]] = x
    return out


res["ratios"] = {part: ratios(part) for part in ("kobart", "llama")}
res["env"]["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
save()


def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


lines = [
    f"## Training throughput ({GPU or 'CPU'}; {res['note']})",
    "",
    f"{STEPS} timed optimizer steps after {WARMUP} warm-up steps; torch {torch.__version__}, "
    f"transformers {transformers.__version__}.",
    "",
    "| run | batch | samples/s | real tokens/s | peak MB | MB/sample | MFU "
    "| samples/s vs baseline | MB/sample vs baseline |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for r in res["runs"]:
    x = res["ratios"].get(r["part"], {}).get(r["name"], {})
    speed = fmt(x.get("samples_per_s"), 2) if x else "1.00" if r["system"] == "baseline" else "-"
    memory = (fmt(x.get("memory_per_sample"), 2) if x
              else "1.00" if r["system"] == "baseline" and r.get("memory_per_sample_mb") else "-")
    lines.append(
        f"| {r['name']} | {r['batch_size']} | {fmt(r['samples_per_s'], 2)} | {fmt(r['tokens_per_s'], 0)} | "
        f"{fmt(r.get('peak_memory_mb'), 0)} | {fmt(r.get('memory_per_sample_mb'), 1)} | {fmt(r.get('mfu'), 3)} | "
        f"{speed} | {memory} |"
    )
for e in res["errors"]:
    lines.append(f"\nFAILED {e['name']}: {e['error']}")
lines.append(
    f"\nGoal: {res['goal']}. "
    + (
        "Met by: " + (", ".join(k for k, v in res["ratios"].get("kobart", {}).items() if v.get("goal_met")) or "none")
        if CUDA and not SMALL
        else "Not judged: this is not a GPU benchmark run."
    )
)
table = "\n".join(lines)
res["markdown"] = table
save()
print("\n" + table)
