"""Generation throughput benchmark for dialsum_nb.generate: KoBART-shape BART, dev-like lengths, beam search.

    python nbs/gpu/generate_bench.py --out generate_bench.json          # CUDA: the full run (minutes on an H100/H200)
    python nbs/gpu/generate_bench.py --out generate_bench.json --small  # tiny shape, 24 dialogues: smoke test, CPU too

Measures dialogues/s, in one run on one machine, for
  - baseline: plain HF `generate`, fp32 weights, batch 16, dataset order (unsorted) -- the original system's way;
  - eager:    dialsum_nb.generate.generate_summaries (length-sorted batches, bf16 autocast on bf16 GPUs) at several
              batch sizes, with fp32 weights and with bf16 weights;
  - compiled: CompiledBackend (static KV cache + torch.compile of the decoding step), warm-up reported separately;
  - ctranslate2: CTranslate2Backend if `ctranslate2` is importable (float32 and bfloat16/float16 compute types).
The model is randomly initialised (no hub access needed): its summaries are noise, so every output is forced to exactly
--max-new-tokens tokens (min_new_tokens = max_new_tokens). That fixes the work per dialogue, like real summaries of
40-60 tokens would. Inputs are synthetic token sequences with dev-like lengths (mean ~200 tokens, max 640).
The JSON is rewritten after every measurement, so a run cut short still leaves results.
"""

import argparse, copy, json, math, sys, tempfile, time, traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: dialsum_nb without installing
import numpy as np
import torch
import transformers
from transformers import BartConfig, BartForConditionalGeneration, PreTrainedTokenizerFast

p = argparse.ArgumentParser()
p.add_argument("--out", required=True, help="path of the JSON results file")
p.add_argument("--n", type=int, default=499, help="number of dialogues (dev has 499)")
p.add_argument("--beams", type=int, default=4)
p.add_argument("--max-new-tokens", type=int, default=60)
p.add_argument("--baseline-batch", type=int, default=16)
p.add_argument("--batches", default="16,32,64,128", help="batch sizes for our eager backend")
p.add_argument(
    "--small", action="store_true", help="tiny model and 24 short dialogues: a smoke test of the code path (CPU too)"
)
p.add_argument("--skip", default="", help="comma list of parts to skip: baseline,eager,compiled,ctranslate2")
args = p.parse_args()
skip = set(filter(None, args.skip.split(",")))

CUDA = torch.cuda.is_available()
DEV = torch.device("cuda" if CUDA else "cpu")
BF16 = CUDA and torch.cuda.is_bf16_supported()
try:
    from dialsum_nb.config import GenerationConfig, ModelSpec
    from dialsum_nb.generate import generate_summaries, make_backend

    HAVE_OURS = True
except Exception as e:  # standalone: the baseline still runs
    HAVE_OURS, OURS_ERR = False, f"{type(e).__name__}: {e}"

res = dict(
    env=dict(
        torch=torch.__version__,
        transformers=transformers.__version__,
        cuda=CUDA,
        gpu=torch.cuda.get_device_name(0) if CUDA else None,
        bf16=BF16,
        cpu_threads=torch.get_num_threads(),
        started=time.strftime("%Y-%m-%dT%H:%M:%S"),
        small=args.small,
    ),
    setup={},
    runs=[],
    skipped=[],
)
if not HAVE_OURS:
    res["skipped"].append({"part": "ours", "reason": OURS_ERR})


def save():
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1, default=str))


def sync():
    if CUDA:
        torch.cuda.synchronize()


# ---- model and data ------------------------------------------------------------------------------------------------
V = 1000 if args.small else 30000
if args.small:
    shape = dict(
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
    )
    n, mean_len, max_len = min(args.n, 24), 60, 160
else:
    shape = dict(
        d_model=768,
        encoder_layers=6,
        decoder_layers=6,
        encoder_attention_heads=16,
        decoder_attention_heads=16,
        encoder_ffn_dim=3072,
        decoder_ffn_dim=3072,
    )
    n, mean_len, max_len = args.n, 200, 640

# A word-level tokenizer over V pseudo-words ("w17"): real tokenizer costs, any length exactly controllable.
from tokenizers import Tokenizer, models as tk_models, pre_tokenizers, processors, decoders

specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
vocab = {t: i for i, t in enumerate(specials)} | {f"w{i}": i for i in range(len(specials), V)}
core = Tokenizer(tk_models.WordLevel(vocab, unk_token="<unk>"))
core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
core.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
core.decoder = decoders.WordPiece(prefix="##")  # joins tokens with spaces
tok = PreTrainedTokenizerFast(
    tokenizer_object=core, bos_token="<s>", pad_token="<pad>", eos_token="</s>", unk_token="<unk>", mask_token="<mask>"
)
config = BartConfig(
    vocab_size=V,
    max_position_embeddings=1026,
    pad_token_id=1,
    bos_token_id=0,
    eos_token_id=2,
    decoder_start_token_id=2,
    forced_eos_token_id=2,
    **shape,
)
torch.manual_seed(0)
model = BartForConditionalGeneration(config).eval().to(DEV)

rng = np.random.default_rng(0)
sigma = 0.5
lengths = np.clip(rng.lognormal(math.log(mean_len) - sigma**2 / 2, sigma, n), 20, max_len).astype(int)
lengths[rng.integers(n)] = max_len  # the longest dev-like dialogue is present
dialogues = [" ".join(f"w{t}" for t in rng.integers(len(specials), V, L)) for L in lengths]
res["setup"] = dict(
    params=sum(p.numel() for p in model.parameters()),
    n=n,
    beams=args.beams,
    max_new_tokens=args.max_new_tokens,
    input_tokens=dict(mean=float(lengths.mean()), max=int(lengths.max()), min=int(lengths.min())),
    shape=shape,
    forced_output_tokens=args.max_new_tokens,
    note="random init; min_new_tokens = max_new_tokens fixes the work",
)
save()
GEN_KW = dict(
    num_beams=args.beams, max_new_tokens=args.max_new_tokens, min_new_tokens=args.max_new_tokens, early_stopping=True
)


def record(name, seconds, n_done, **extra):
    row = dict(
        name=name, seconds=round(seconds, 3), dialogues=n_done, dialogues_per_s=round(n_done / seconds, 2), **extra
    )
    if CUDA:
        row["peak_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    res["runs"].append(row)
    save()
    print(json.dumps(row), flush=True)
    return row


def guarded(name, fn):
    try:
        fn()
    except Exception as e:
        res["runs"].append(
            dict(
                name=name, error=f"{type(e).__name__}: {e}".splitlines()[0][:400], trace=traceback.format_exc()[-2000:]
            )
        )
        save()
        print(name, "FAILED", e, flush=True)
        if CUDA:
            torch.cuda.empty_cache()


def reset():
    if CUDA:
        sync()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


# ---- baseline: plain HF generate, fp32, unsorted -------------------------------------------------------------------
def baseline():
    reset()
    bs = args.baseline_batch
    with torch.inference_mode():  # warm-up (CUDA context, kernels) on one batch, not timed
        enc = tok(dialogues[:bs], padding=True, truncation=True, max_length=1024, return_tensors="pt").to(DEV)
        model.generate(**enc, **GEN_KW)
        sync()
        t = time.perf_counter()
        outs = []
        for i in range(0, n, bs):
            enc = tok(dialogues[i : i + bs], padding=True, truncation=True, max_length=1024, return_tensors="pt").to(
                DEV
            )
            outs += tok.batch_decode(model.generate(**enc, **GEN_KW), skip_special_tokens=True)
        sync()
    record("baseline_hf_fp32_unsorted", time.perf_counter() - t, len(outs), batch_size=bs, weights="float32")


if "baseline" in skip:
    res["skipped"].append({"part": "baseline", "reason": "--skip"})
else:
    guarded("baseline", baseline)

# ---- ours -----------------------------------------------------------------------------------------------------------
if HAVE_OURS:
    spec = ModelSpec(name="kobart-shape", family="seq2seq", architecture="bart")
    batches = [int(b) for b in args.batches.split(",")]

    def ours_eager(bs, weights):
        reset()
        m = model if weights == "float32" else copy.deepcopy(model).to(torch.bfloat16)
        gen = GenerationConfig(
            num_beams=args.beams, max_new_tokens=args.max_new_tokens, min_new_tokens=args.max_new_tokens, batch_size=bs
        )
        generate_summaries(m, tok, dialogues[:bs], gen, spec, max_source_length=1024)  # warm-up
        sync()
        t = time.perf_counter()
        out = generate_summaries(m, tok, dialogues, gen, spec, max_source_length=1024)
        sync()
        record(
            f"eager_sorted_{weights}_bs{bs}",
            time.perf_counter() - t,
            len(out),
            batch_size=bs,
            weights=weights,
            autocast="bf16" if BF16 else None,
        )
        del m

    if "eager" in skip:
        res["skipped"].append({"part": "eager", "reason": "--skip"})
    else:
        for bs in batches:
            guarded(f"eager_fp32_bs{bs}", lambda: ours_eager(bs, "float32"))
        if BF16:
            for bs in batches:
                guarded(f"eager_bf16_bs{bs}", lambda: ours_eager(bs, "bfloat16"))
        else:
            res["skipped"].append({"part": "eager bf16 weights", "reason": "no bf16-capable GPU"})

    def ours_compiled(bs):
        reset()
        be = make_backend("compiled", model, tok, spec, max_source_length=1024, batch_size=bs, compile_on_cpu=True)
        gen = GenerationConfig(
            num_beams=args.beams, max_new_tokens=args.max_new_tokens, min_new_tokens=args.max_new_tokens, batch_size=bs
        )
        t = time.perf_counter()
        be.generate(dialogues[: 2 * bs], gen)
        sync()
        warm = time.perf_counter() - t
        t = time.perf_counter()
        out = be.generate(dialogues, gen)
        sync()
        record(
            f"compiled_fp32_bs{bs}",
            time.perf_counter() - t,
            len(out),
            batch_size=bs,
            weights="float32",
            warmup_s=round(warm, 1),
            note="static cache; every new batch shape may recompile, included in the timed run",
        )

    if "compiled" in skip:
        res["skipped"].append({"part": "compiled", "reason": "--skip"})
    else:
        for bs in [batches[0]] if args.small else batches[:2]:
            guarded(f"compiled_bs{bs}", lambda: ours_compiled(bs))

    def ours_ct2(bs, compute_type):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            be = make_backend(
                "ctranslate2",
                model,
                tok,
                spec,
                workdir=d,
                max_source_length=1024,
                batch_size=bs,
                compute_type=compute_type,
            )
            conv = time.perf_counter() - t
            gen = GenerationConfig(
                num_beams=args.beams,
                max_new_tokens=args.max_new_tokens,
                min_new_tokens=args.max_new_tokens,
                batch_size=bs,
            )
            be.generate(dialogues[:bs], gen)
            t = time.perf_counter()
            out = be.generate(dialogues, gen)
            record(
                f"ctranslate2_{compute_type}_bs{bs}",
                time.perf_counter() - t,
                len(out),
                batch_size=bs,
                compute_type=compute_type,
                convert_s=round(conv, 1),
            )

    try:
        import ctranslate2

        have_ct2 = "ctranslate2" not in skip
        if not have_ct2:
            res["skipped"].append({"part": "ctranslate2", "reason": "--skip"})
    except ImportError as e:
        have_ct2 = False
        res["skipped"].append({"part": "ctranslate2", "reason": f"not importable: {e}"})
    if have_ct2:
        types = ["default"] + (["bfloat16" if BF16 else "float16"] if CUDA else [])
        for ct in types:
            for bs in [batches[0]] if args.small else batches[:3]:
                guarded(f"ctranslate2_{ct}_bs{bs}", lambda: ours_ct2(bs, ct))

base = next((r for r in res["runs"] if r["name"].startswith("baseline") and "dialogues_per_s" in r), None)
if base:
    res["summary"] = {
        r["name"]: round(r["dialogues_per_s"] / base["dialogues_per_s"], 2)
        for r in res["runs"]
        if "dialogues_per_s" in r
    }
res["env"]["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
save()
print(json.dumps(res.get("summary", {}), indent=1))
