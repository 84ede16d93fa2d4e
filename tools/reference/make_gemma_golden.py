#!/usr/bin/python3
"""Writes a tiny Gemma-2 text encoder, its tokenizer and golden outputs for the C++ tests.

    /usr/bin/python3 tools/reference/make_gemma_golden.py --out DIR [--seed 0]

DIR/tokenizer/tokenizer.model   BPE trained here by Debian's spm_train (Gemma's settings, byte fallback)
DIR/text_encoder/config.json    transformers' Gemma2Config field names (small_gemma2_config)
DIR/text_encoder/model.safetensors   f32 random weights, Gemma2Model names
DIR/text_encoder_bf16/          the same weights stored in bf16
DIR/golden.json                 tokenizer ids (python3-sentencepiece), encoder inputs, prompt ids/masks
DIR/golden.safetensors          f32 hidden states computed in float64 from the f32 weights:
                                "encoder.<case>" (L, hidden), "encoder_bf16.<case>" (from the
                                bf16-rounded weights), "prompt.<case>.hidden" / ".mask"
Takes ~2 s.
"""
import argparse
import copy
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reel_ref.gemma2 import (small_gemma2_config, write_random_text_encoder,  # noqa: E402
                             write_text_encoder)
from reel_ref.safetensors_io import save_file  # noqa: E402
from reel_ref.sana_prompt import (SANA_VIDEO_CHI, GemmaSentencePiece, encode_prompt,  # noqa: E402
                                  preprocess, tokenize_prompt, train_tokenizer)

CORPUS = SANA_VIDEO_CHI + [
    "A small fluffy white cat sleeping on a warm sunny windowsill.",
    "A bustling city street at dusk, glowing lamps, a double-decker bus passing glass towers.",
    "The camera slowly pans across a forest; golden light filters through the leaves.",
    "Evening, backlight, side lighting, soft light, high contrast, mid-shot, centered composition.",
    "A young man stands in a field, wind gently blowing his hair, 24 frames at 16 fps.",
    "Une rue animée à Paris, café, crème brûlée, élégance.",
    "Straße, Größe, Mädchen, Übermut: ein Fuchs läuft durch den Schnee.",
    "Ένα μικρό σκάφος στη θάλασσα, ήλιος και κύματα.",
    "一只猫在窗台上睡觉，阳光温暖。",
    "Numbers 0123456789 and symbols: #, @, %, &, *, (, ), [, ], {, }.",
]

TOKENIZER_TEXTS = [
    "",
    " ",
    "a cat",
    "A Cat Sleeping  on   a mat.\n",
    "  leading and trailing spaces  ",
    "tabs\tand\nnewlines\r\n",
    "Crème brûlée in Straße Größe ÜBER",
    "ΣΟΦΊΑ σοφία ΟΔΟΣ",
    "猫在睡觉 and a 🐱 riding a 🚀 (emoji: 👩‍🚀 🇫🇷)",
    "İstanbul ǅemal ﬁne ŉ",  # Unicode with special casing
    "digits 2025-12-04 12:44:45 3.14159",
    "unknownwordzzqx xyzzy plugh",
    "a long prompt " + " ".join(["with many many words about a cat and a busy city street"] * 20),
    "\u00e9 vs e\u0301 (composed vs decomposed)",
]

# Python's str.lower().strip() where a byte-wise or ASCII-only version would differ.
PREPROCESS_TEXTS = [
    "  A Cat  ",
    "\t\n\u00a0\u2003\u00c9COLE\u3000",  # NBSP, em space, ideographic space
    "\u039f\u0394\u039f\u03a3 \u03a3\u039f\u03a6\u038a\u0391",  # final sigma
    "\u0130stanbul",  # İ lower-cases to two code points
    "\u1e9e Stra\u00dfe \u01c5 \u0149",
    "\u200bzero width\u200b\x1c\x1f\x85",  # ZWSP is no white space; FS/US/NEL are
    "",
    "   ",
]

# (name, prompt, use CHI, max_sequence_length)
PROMPT_CASES = [
    ("chi_short", "A cat sleeping on a windowsill. motion score: 30.", True, 300),
    ("chi_unicode", "  Crème BRÛLÉE, ΟΔΟΣ and a 🐱 🚀  ", True, 300),
    ("chi_truncated", "A bustling city street " * 40, True, 24),
    ("chi_empty", "", True, 16),
    ("negative_empty", "", False, 300),
    ("negative_long", "A chaotic sequence with misshapen, deformed limbs in heavy motion blur " * 4,
     False, 20),
    ("negative_fits", "Blurry, jittery.", False, 40),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(os.path.join(args.out, "tokenizer"), exist_ok=True)
    model_path = train_tokenizer(os.path.join(args.out, "tokenizer", "tokenizer"), CORPUS, 420)
    os.unlink(os.path.join(args.out, "tokenizer", "tokenizer.vocab"))
    tok = GemmaSentencePiece(model_path)

    cfg = small_gemma2_config(vocab_size=tok.sp.get_piece_size())
    model32 = write_random_text_encoder(os.path.join(args.out, "text_encoder"), cfg, args.seed)
    model = model32.to(torch.float64)  # f32-rounded weights, evaluated in f64
    # The same model stored in bf16 (as the official checkpoint is), evaluated in f64 from the
    # bf16-rounded weights: the C++ keeps those mapped and converts them per use.
    write_text_encoder(model32, os.path.join(args.out, "text_encoder_bf16"), torch.bfloat16)
    model_bf16 = copy.deepcopy(model32).to(torch.bfloat16).to(torch.float64)

    golden = {"bos_id": tok.bos_id, "eos_id": tok.eos_id, "pad_id": tok.pad_id,
              "vocab_size": tok.sp.get_piece_size(), "tokenizer": [], "encoder": [], "prompt": []}
    tensors = {}
    golden["preprocess"] = [{"text": t, "want": preprocess(t)} for t in PREPROCESS_TEXTS]
    for text in TOKENIZER_TEXTS:
        golden["tokenizer"].append({"text": text, "ids": tok.encode_plain(text)})

    g = torch.Generator().manual_seed(args.seed + 1)
    encoder_cases = [("unpadded", 12, 12), ("padded", 16, 7), ("one_token", 9, 1)]
    with torch.no_grad():
        for name, length, valid in encoder_cases:
            ids = torch.randint(0, cfg.vocab_size, (length,), generator=g)
            ids[0] = tok.bos_id
            ids[valid:] = tok.pad_id
            mask = torch.tensor([1] * valid + [0] * (length - valid))
            hidden = model(ids[None], mask[None])[0]
            golden["encoder"].append({"name": name, "ids": ids.tolist(), "mask": mask.tolist()})
            tensors[f"encoder.{name}"] = hidden.float()
            tensors[f"encoder_bf16.{name}"] = model_bf16(ids[None], mask[None])[0].float()

        for name, prompt, use_chi, max_len in PROMPT_CASES:
            chi = SANA_VIDEO_CHI if use_chi else []
            ids, mask, selected = tokenize_prompt(tok, prompt, chi, max_len)
            hidden, sel_mask = encode_prompt(model, tok, prompt, chi, max_len)
            golden["prompt"].append({"name": name, "prompt": prompt, "chi": use_chi,
                                     "max_sequence_length": max_len, "ids": ids, "mask": mask,
                                     "selected": selected})
            tensors[f"prompt.{name}.hidden"] = hidden.float()
            tensors[f"prompt.{name}.mask"] = sel_mask.float()

    save_file(tensors, os.path.join(args.out, "golden.safetensors"))
    with open(os.path.join(args.out, "golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
