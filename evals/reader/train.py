"""Train the reader, export it to ONNX (int8) and choose its refusal threshold.

``python -m evals.reader.train --out DIR [--train alqac virhe4qa] [--seed 0]`` (torch is a
dev extra). Training is deterministic for a given seed, collection list and machine's
thread count. ``make train-reader`` trains on all three collections and writes the
shipped model into ``assistant/answering/reader/model/``; leave-one-collection-out runs train on
two and are scored on the third (``python -m evals.reader.loo``).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

from assistant.answering.reader.inputs import MAX_LENGTH, encode_pair
from evals.reader.data import ALL_COLLECTIONS, TRAINING_COLLECTIONS, Example, load_examples
from index.e5_tokenizer import E5Tokenizer
from index.e5_weights import E5Weights
from index.errors import HoidapError

DEFAULT_ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks"


def _encode(tok: E5Tokenizer, ex: Example, max_length: int) -> dict | None:
    pair = encode_pair(tok, ex.question, "", ex.passage, max_length)
    n = len(pair.sentences)
    if n != len(ex.labels):
        return None
    span = np.zeros(len(pair.ids), dtype=np.float32)
    has_span = ex.span is not None
    if has_span:
        s, e = ex.span[0] + pair.body_start, ex.span[1] + pair.body_start
        for t, (a, b) in enumerate(pair.offsets):
            if b > a and a < e and s < b:
                span[t] = 1.0
    scored = sorted({int(x) for x in pair.sentence_of if x >= 0})
    # Only sentence tokens may start or end an answer (as at run time, runtime.boundary_spans).
    start, end = _boundaries(span * (pair.sentence_of >= 0), has_span, any(ex.labels))
    return {
        "ids": pair.ids,
        "sentence_of": pair.sentence_of,
        "labels": np.array([ex.labels[i] for i in scored], dtype=np.float32),
        "scored": scored,
        "span": span,
        "has_span": has_span,
        "answerable": float(any(ex.labels)),
        "start": start,
        "end": end,
    }


def _boundaries(span: np.ndarray, has_span: bool, answerable: bool) -> tuple[int, int]:
    """Start and end token of the answer for the start/end heads: (0, 0) (<s>, "no
    answer") when the window cannot answer; (-1, -1), not trained, when it answers
    without a marked span inside the window (an abstractive answer, or one cut off)."""
    marked = np.flatnonzero(span > 0)
    if has_span and len(marked):
        return int(marked[0]), int(marked[-1])
    return (-1, -1) if answerable or has_span else (0, 0)


def _batch(items: list[dict], weights: E5Weights):
    import torch

    from assistant.answering.reader.inputs import sentence_pool

    width = max(len(it["ids"]) for it in items)
    ids = np.full((len(items), width), weights.pad, dtype=np.int64)
    mask = np.zeros((len(items), width), dtype=np.float32)
    span = np.zeros((len(items), width), dtype=np.float32)
    span_mask = np.zeros((len(items), width), dtype=np.float32)
    pools, labels = [], []
    # Where an answer may start or end: passage tokens, and <s> for "no answer".
    bound_mask = np.zeros((len(items), width), dtype=np.float32)
    for i, it in enumerate(items):
        n = len(it["ids"])
        ids[i, :n], mask[i, :n] = it["ids"], 1.0
        bound_mask[i, :n] = (it["sentence_of"] >= 0).astype(np.float32)
        bound_mask[i, 0] = 1.0
        span[i, :n] = it["span"]
        if it["has_span"]:
            span_mask[i, :n] = (it["sentence_of"] >= 0).astype(np.float32)
        pool = sentence_pool(it["sentence_of"], int(it["sentence_of"].max()) + 1, width)
        pools.append(pool[it["scored"]])
        labels.append(it["labels"])
    embeds = weights.word_embeddings(ids)
    return (
        torch.from_numpy(embeds),
        torch.from_numpy(mask),
        [torch.from_numpy(p) for p in pools],
        [torch.from_numpy(x) for x in labels],
        torch.from_numpy(span),
        torch.from_numpy(span_mask),
        torch.tensor([it["answerable"] for it in items]),
        torch.from_numpy(bound_mask),
        torch.tensor([it["start"] for it in items]),
        torch.tensor([it["end"] for it in items]),
    )


def losses(net, batch, listwise: float = 0.0, boundaries: float = 0.0):
    """Sentence BCE + ½ passage BCE + ½ span BCE, plus ``listwise`` x a softmax cross-entropy
    over each answerable window's sentences (the answerer cites the best-ranked sentence,
    so ranking the answer first inside its passage is trained directly) and
    ``boundaries`` x the SQuAD 2.0 start/end cross-entropy, where <s> is the answer of a
    window that cannot answer: "no answer" competes with every span of the window."""
    import torch
    from torch.nn.functional import binary_cross_entropy_with_logits as bce

    embeds, mask, pools, labels, span, span_mask, answerable, bound_mask, start, end = batch
    token_logits, passage_logit = net(embeds, mask)
    per_window = [p @ token_logits[i, :, 0] for i, p in enumerate(pools)]
    sent = torch.cat(per_window)
    gold = torch.cat(labels)
    loss_sent = bce(sent, gold)
    ranked = [
        -(torch.log_softmax(s, dim=0) * (y / y.sum())).sum()
        for s, y in zip(per_window, labels, strict=True)
        if len(y) > 1 and y.sum() > 0
    ]
    if listwise and ranked:
        loss_sent = loss_sent + listwise * torch.stack(ranked).mean()
    loss_passage = bce(passage_logit, answerable)
    n_span = span_mask.sum()
    loss_span = (
        (bce(token_logits[..., 1], span, reduction="none") * span_mask).sum() / n_span
        if n_span > 0
        else torch.zeros(())
    )
    total = loss_sent + 0.5 * loss_passage + 0.5 * loss_span
    if boundaries:
        total = total + boundaries * boundary_loss(token_logits, bound_mask, start, end)
    return total


def boundary_loss(token_logits, bound_mask, start, end):
    """Mean start and end cross-entropy over the windows with a target (``start`` ≥ 0)."""
    import torch
    from torch.nn.functional import cross_entropy

    kept = start >= 0
    if not bool(kept.any()):
        return torch.zeros(())
    blocked = (1.0 - bound_mask[kept]) * -1e4
    loss_start = cross_entropy(token_logits[kept][..., 2] + blocked, start[kept])
    loss_end = cross_entropy(token_logits[kept][..., 3] + blocked, end[kept])
    return (loss_start + loss_end) / 2


def split_examples(examples: list[Example], rng: random.Random) -> tuple[list, list]:
    """Hold out 10 % of each collection's questions (all their examples) for validation.

    Per collection, so that the answerability model and thresholds fitted on the held-out
    questions (``evals.reader.combine``) see every training domain.
    """
    examples = list(examples)
    rng.shuffle(examples)
    by_q: dict[str, list[Example]] = {}
    for e in examples:
        by_q.setdefault(e.meta.get("qid", ""), []).append(e)
    by_collection: dict[str, list[str]] = {}
    for q, group in sorted(by_q.items()):
        by_collection.setdefault(group[0].collection, []).append(q)
    val_ids: set[str] = set()
    for name in sorted(by_collection):
        qids = by_collection[name]
        val_ids.update(rng.sample(qids, max(1, len(qids) // 10)))
    val = [e for q in sorted(val_ids) for e in by_q[q]]
    train_set = [e for q in by_q if q not in val_ids for e in by_q[q]]
    rng.shuffle(train_set)
    return train_set, val


def revalidate(args) -> dict:
    """Re-choose the threshold of an exported model on its own validation split."""
    from evals.reader.validate import choose_threshold

    examples = load_examples(Path(args.data), args.train, args.seed, args.hard_negatives)
    _, val = split_examples(examples, random.Random(args.seed))
    return choose_threshold(Path(args.out), val)


def synthetic_examples(args, val: list[Example]) -> list[Example]:
    """Examples of in-situ questions (``evals.reader.synthetic``) made from the training
    collections' contexts, leaving out the contexts of validation questions."""
    from evals.reader.data import build_examples, read_collection
    from evals.reader.synthetic import synthetic_rows

    held = {e.question for e in val}
    contexts = []
    for name in args.train:
        rows = read_collection(Path(args.data), name)
        val_contexts = {r.context for r in rows if r.question in held}
        contexts += [r.context for r in rows if r.context not in val_contexts]
    rows = synthetic_rows(contexts, args.seed, args.synthetic)
    return build_examples(rows, "synthetic", args.seed, args.hard_negatives)


def train(args) -> dict:
    import torch

    from evals.reader.torch_model import from_e5

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    weights = E5Weights()
    tok = E5Tokenizer(weights)
    examples = load_examples(Path(args.data), args.train, args.seed, args.hard_negatives)
    rng = random.Random(args.seed)
    train_set, val = split_examples(examples, rng)
    if args.max_examples:
        train_set = train_set[: args.max_examples]
    if args.synthetic:
        train_set += synthetic_examples(args, val)
        random.Random(args.seed).shuffle(train_set)
    encoded = [x for x in (_encode(tok, e, args.max_length) for e in train_set) if x is not None]
    net = from_e5(weights, args.layers)
    net.train()
    # Length-bucketed batches (less padding), visited in a seeded order.
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]["ids"]))
    batches = [order[i : i + args.batch] for i in range(0, len(order), args.batch)]
    steps = len(batches) * args.epochs
    opt, sched = optimiser(net, args.lr, steps)
    checkpoint = Checkpoint(Path(args.out) / "checkpoint.pt", args)
    resumed, log = checkpoint.restore(net, opt, sched)
    started, step = time.time() - (log[-1]["s"] if log else 0.0), 0
    for _epoch in range(args.epochs):
        rng.shuffle(batches)  # the same order on a resumed run: the steps done are skipped
        for b in batches:
            step += 1
            if step <= resumed:
                continue
            batch = _batch([encoded[i] for i in b], weights)
            loss = losses(net, batch, args.listwise, args.boundaries)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            if step % 20 == 0 or step == steps:
                seconds = round(time.time() - started, 1)
                log.append({"step": step, "loss": round(float(loss.detach()), 4), "s": seconds})
                print(json.dumps(log[-1]), flush=True)
            if step % args.checkpoint_every == 0 and step < steps:
                checkpoint.save(net, opt, sched, step, log)
    net.eval()
    return {
        "net": net,
        "val": val,
        "examples": len(encoded),
        "steps": steps,
        "seconds": round(time.time() - started, 1),
        "log": log,
    }


def optimiser(net, lr: float, steps: int):
    """AdamW with the heads at 20x the encoder's learning rate (they start from nothing),
    and a linear warm-up over the first tenth of ``steps``, then a linear decay to 0."""
    import torch

    head_params = list(net.token_head.parameters()) + list(net.passage_head.parameters())
    head_ids = {id(p) for p in head_params}
    body = [p for p in net.parameters() if id(p) not in head_ids]
    opt = torch.optim.AdamW(
        [{"params": body, "lr": lr}, {"params": head_params, "lr": lr * 20}],
        weight_decay=0.01,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, steps // 10)) * max(0.0, 1 - s / steps)
    )
    return opt, sched


class Checkpoint:
    """Model, optimiser and schedule state every ``--checkpoint-every`` steps, so that an
    interrupted ``make train-reader`` resumes where it stopped. A checkpoint of another
    recipe (different arguments) is ignored, not resumed."""

    def __init__(self, path: Path, args) -> None:
        self.path = path
        self.recipe = {
            k: v
            for k, v in sorted(vars(args).items())
            if k not in ("out", "threads", "checkpoint_every")
        }

    def restore(self, net, opt, sched) -> tuple[int, list]:
        import torch

        if not self.path.is_file():
            return 0, []
        state = torch.load(self.path, weights_only=False)
        if state.get("recipe") != self.recipe:
            print(f"checkpoint {self.path} is of another recipe: starting afresh", flush=True)
            return 0, []
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        torch.set_rng_state(state["torch_rng"])
        print(f"resuming from step {state['step']} ({self.path})", flush=True)
        return state["step"], state["log"]

    def save(self, net, opt, sched, step: int, log: list) -> None:
        import torch

        self.path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "recipe": self.recipe,
            "step": step,
            "log": log,
            "net": net.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }
        tmp = self.path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(self.path)  # never a half-written checkpoint

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def reference_scores(
    net, examples: list[Example], max_length: int, boundaries: bool = False
) -> list[dict]:
    """Sentence probabilities of a few pairs by the torch model, to check the ONNX export."""
    import torch

    from assistant.answering.reader.inputs import sentence_pool
    from assistant.answering.reader.runtime import boundary_spans

    weights = E5Weights()
    tok = E5Tokenizer(weights)
    out = []
    for ex in examples:
        pair = encode_pair(tok, ex.question, "", ex.passage, max_length)
        embeds = torch.from_numpy(weights.word_embeddings(np.array([pair.ids])))
        with torch.no_grad():
            tokens, _ = net(embeds, torch.ones(1, len(pair.ids)))
        pool = sentence_pool(pair.sentence_of, len(pair.sentences), len(pair.ids))
        logits = pool @ tokens[0, :, 0].numpy()
        probs = 1.0 / (1.0 + np.exp(-logits))
        ref = {
            "question": ex.question,
            "passage": ex.passage,
            "probabilities": [round(float(x), 6) for x in probs],
        }
        if boundaries:  # the trained start/end heads' margin over "no answer"
            bounds = boundary_spans(pair, tokens[0].numpy())
            ref["boundaries"] = [round(bounds[i][0], 4) for i in sorted(bounds)]
        out.append(ref)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_ROOT), help="folder of the benchmark CSVs")
    p.add_argument(
        "--train",
        nargs="+",
        default=list(TRAINING_COLLECTIONS),
        choices=list(ALL_COLLECTIONS),
        help="open-licence sets by default; the others are evaluation-only (weights trained on "
        "them must not ship)",
    )
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--max-length", type=int, default=MAX_LENGTH)
    p.add_argument("--max-examples", type=int, default=0, help="0: all")
    p.add_argument(
        "--listwise", type=float, default=0.0, help="weight of the in-window ranking loss"
    )
    p.add_argument(
        "--boundaries",
        type=float,
        default=0.0,
        help="weight of the start/end (no-answer) loss; 0: those heads are not trained",
    )
    p.add_argument(
        "--synthetic", type=int, default=0, help="in-situ questions added to training (at most)"
    )
    p.add_argument(
        "--hard-negatives",
        action="store_true",
        help="passage negatives a retriever would hand over (evals.reader.data.OverlapIndex)",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=100,
        help="steps between checkpoints (<out>/checkpoint.pt); a rerun resumes from it",
    )
    p.add_argument(
        "--revalidate", action="store_true", help="only re-choose the threshold of --out"
    )
    args = p.parse_args(argv)
    try:
        _run(args)
    except HoidapError as exc:  # a clear message, not a traceback
        raise SystemExit(f"error: {exc.message_en}") from None


def _run(args) -> None:
    if args.revalidate:
        card_path = Path(args.out) / "reader.json"
        card = json.loads(card_path.read_text())
        card.update(revalidate(args))
        card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
        print(json.dumps({k: card[k] for k in ("threshold", "llm_floor", "validation")}))
        return
    import torch

    from evals.reader.export import export_reader
    from evals.reader.validate import choose_threshold

    if args.threads:
        torch.set_num_threads(args.threads)
    result = train(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    export_reader(result["net"], out, args.max_length)
    Checkpoint(out / "checkpoint.pt", args).clear()
    card = {
        "train_collections": args.train,
        "seed": args.seed,
        "layers": args.layers,
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "listwise": args.listwise,
        "boundaries": args.boundaries,
        "synthetic": args.synthetic,
        "hard_negatives": args.hard_negatives,
        "max_length": args.max_length,
        "examples": result["examples"],
        "steps": result["steps"],
        "train_seconds": result["seconds"],
        "final_loss": result["log"][-1]["loss"] if result["log"] else None,
    }
    card["reference"] = reference_scores(
        result["net"], result["val"][:6], args.max_length, args.boundaries > 0
    )
    card_path = out / "reader.json"
    card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")  # read by:
    card.update(choose_threshold(out, result["val"]))
    card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(card, ensure_ascii=False))


if __name__ == "__main__":
    main()
