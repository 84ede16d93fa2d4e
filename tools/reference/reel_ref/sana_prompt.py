"""SANA-Video's prompt processing, written from diffusers' SanaVideoPipeline (_get_gemma_prompt_embeds,
encode_prompt, _text_preprocessing with clean_caption=False) and transformers' GemmaTokenizer call
(add_special_tokens=True: BOS only; truncation='right' keeping room for BOS; padding='max_length' on the
right with pad_id). Independent of the C++ (pipeline/model/sana_prompt.cc). Contract: GEMMA2.md.

    tok = GemmaSentencePiece("tokenizer/tokenizer.model")
    t = tokenize_prompt(tok, "A cat", SANA_VIDEO_CHI, 300)   # ids, mask, selected
    hidden, mask = encode_prompt(model, tok, "A cat", SANA_VIDEO_CHI, 300)
    train_tokenizer(path_prefix, corpus_lines, vocab_size)    # spm_train, Gemma's settings
"""
import os
import subprocess
import tempfile

import sentencepiece
import torch

# diffusers SanaVideoPipeline.__call__'s default complex_human_instruction (data: a prompt prefix).
SANA_VIDEO_CHI = [
    "Given a user prompt, generate an 'Enhanced prompt' that provides detailed visual descriptions suitable for video generation. Evaluate the level of detail in the user prompt:",  # noqa: E501
    "- If the prompt is simple, focus on adding specifics about colors, shapes, sizes, textures, motion, and temporal relationships to create vivid and dynamic scenes.",  # noqa: E501
    "- If the prompt is already detailed, refine and enhance the existing details slightly without overcomplicating.",  # noqa: E501
    "Here are examples of how to transform or refine prompts:",
    "- User Prompt: A cat sleeping -> Enhanced: A small, fluffy white cat slowly settling into a curled position, peacefully falling asleep on a warm sunny windowsill, with gentle sunlight filtering through surrounding pots of blooming red flowers.",  # noqa: E501
    "- User Prompt: A busy city street -> Enhanced: A bustling city street scene at dusk, featuring glowing street lamps gradually lighting up, a diverse crowd of people in colorful clothing walking past, and a double-decker bus smoothly passing by towering glass skyscrapers.",  # noqa: E501
    "Please generate only the enhanced description for the prompt below and avoid including any additional commentary or evaluations:",  # noqa: E501
    "User Prompt: ",
]


class GemmaSentencePiece:
    """GemmaTokenizer's slow path: sentencepiece with the model's own normalizer, BOS prepended."""

    def __init__(self, model_path: str):
        self.sp = sentencepiece.SentencePieceProcessor(model_file=model_path)
        self.bos_id, self.eos_id, self.pad_id = self.sp.bos_id(), self.sp.eos_id(), self.sp.pad_id()

    def encode_plain(self, text: str):
        return list(self.sp.encode(text))

    def encode(self, text: str):  # tokenizer.encode(text): add_special_tokens=True
        return [self.bos_id] + self.encode_plain(text)

    def __call__(self, text: str, max_length: int):
        """tokenizer(text, padding='max_length', max_length, truncation=True, add_special_tokens=True)."""
        # Truncation keeps room for the special token: BOS + the first max_length - 1 pieces.
        ids = [self.bos_id] + self.encode_plain(text)[: max_length - 1]
        mask = [1] * len(ids) + [0] * (max_length - len(ids))
        return ids + [self.pad_id] * (max_length - len(ids)), mask


def preprocess(text: str) -> str:
    """_text_preprocessing with clean_caption=False."""
    return text.lower().strip()


def tokenize_prompt(tok: GemmaSentencePiece, prompt: str, chi, max_sequence_length: int):
    """(ids, mask, selected) of the positive-prompt path; with chi empty also the negative one."""
    prompt = preprocess(prompt)
    if not chi:
        max_length_all = max_sequence_length
    else:
        chi_prompt = "\n".join(chi)
        prompt = chi_prompt + prompt
        max_length_all = len(tok.encode(chi_prompt)) + max_sequence_length - 2
    ids, mask = tok(prompt, max_length_all)
    # select_index = [0] + list(range(-max_sequence_length + 1, 0)), as positions of the sequence.
    selected = [0] + [max_length_all + k for k in range(-max_sequence_length + 1, 0)]
    return ids, mask, selected


def encode_prompt(model, tok: GemmaSentencePiece, prompt: str, chi, max_sequence_length: int):
    """(hidden (max_sequence_length, hidden_size), mask (max_sequence_length)) in the model's dtype."""
    ids, mask, selected = tokenize_prompt(tok, prompt, chi, max_sequence_length)
    with torch.no_grad():
        hidden = model(torch.tensor([ids]), torch.tensor([mask]))[0]
    return hidden[selected], torch.tensor(mask)[selected]


def train_tokenizer(model_prefix: str, corpus_lines, vocab_size: int) -> str:
    """A small BPE tokenizer.model with Gemma's settings (ids pad 0, eos 1, bos 2, unk 3; byte
    fallback; digits split; no dummy prefix, no whitespace folding, identity normalization), trained
    by Debian's spm_train. Returns the model path."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write("\n".join(corpus_lines) + "\n")
        corpus = f.name
    try:
        subprocess.run(
            ["spm_train", f"--input={corpus}", f"--model_prefix={model_prefix}",
             f"--vocab_size={vocab_size}", "--model_type=bpe", "--byte_fallback=true",
             "--split_digits=true", "--add_dummy_prefix=false", "--remove_extra_whitespaces=false",
             "--normalization_rule_name=identity", "--allow_whitespace_only_pieces=true",
             "--character_coverage=1.0", "--pad_id=0", "--eos_id=1", "--bos_id=2", "--unk_id=3",
             "--hard_vocab_limit=false", "--num_threads=1", "--minloglevel=2"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    finally:
        os.unlink(corpus)
    return model_prefix + ".model"
