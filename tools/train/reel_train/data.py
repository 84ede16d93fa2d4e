"""Procedural captioned clips for reel-tiny (deterministic from a seed).

A clip is uint8 (frames, 64, 64, 3) RGB: one or two flat-colored, anti-aliased shapes on a flat
background. Every attribute in the caption is checkable from pixels (tools/eval classifies them):
color (palette), shape, motion (left/right/up/down/still/diagonal/growing/shrinking), background.
Objects bounce off the borders (and sizes ping-pong between limits), so clips of any length keep
moving; the caption describes the first 16 frames, during which a translated object never bounces
(its start position is chosen so).

Held-out combinations (HELD_OUT) never occur in training clips (for any object of the clip); they are
what `split="heldout"` samples, to test composition.
"""
import math

import numpy as np
import torch

from .vae import pixels_to_input

SIZE = 64
TRAIN_FRAMES = 16

# Flat colors: far apart in RGB so the evaluator classifies by nearest palette entry.
COLORS = {
    "red": (230, 40, 40),
    "green": (40, 190, 60),
    "blue": (40, 80, 235),
    "yellow": (245, 220, 40),
    "orange": (250, 140, 20),
    "purple": (150, 50, 200),
    "cyan": (40, 215, 225),
}
BACKGROUNDS = {"black": (0, 0, 0), "white": (255, 255, 255), "gray": (128, 128, 128)}
SHAPES = ["circle", "square", "triangle", "star", "diamond"]
MOTIONS = ["right", "left", "up", "down", "still", "diagonal", "growing", "shrinking"]

# (color, shape, motion) triples never used for training.
HELD_OUT = [
    ("green", "triangle", "up"),
    ("blue", "star", "left"),
    ("yellow", "square", "down"),
    ("purple", "circle", "right"),
    ("orange", "diamond", "growing"),
    ("cyan", "triangle", "still"),
]

# Caption grammar. The first entry of each list is canonical (used by the evaluator's suites).
COLOR_WORDS = {c: [c] for c in COLORS}
COLOR_WORDS["purple"] = ["purple", "violet"]
COLOR_WORDS["gray"] = ["gray", "grey"]
SHAPE_WORDS = {
    "circle": ["circle", "ball", "disc", "dot"],
    "square": ["square", "box"],
    "triangle": ["triangle"],
    "star": ["star"],
    "diamond": ["diamond", "rhombus"],
}
MOTION_WORDS = {
    "right": ["moving right", "moving to the right", "going to the right", "sliding right",
              "moves right", "drifting right"],
    "left": ["moving left", "moving to the left", "going to the left", "sliding left",
             "moves left", "drifting left"],
    "up": ["moving up", "going up", "moving upward", "rising", "moves up", "sliding up"],
    "down": ["moving down", "going down", "moving downward", "falling", "moves down", "sliding down"],
    "still": ["standing still", "not moving", "staying still", "resting", "static"],
    "diagonal": ["bouncing diagonally", "moving diagonally", "bouncing around", "bouncing"],
    "growing": ["growing", "getting bigger", "expanding"],
    "shrinking": ["shrinking", "getting smaller", "contracting"],
}
BG_PHRASES = ["on a {} background", "on {}", "over a {} background", "against a {} background"]


def words(text):
    """The tokenizer's word split: lowercase, split on non-letters (shared with the C++ tokenizer)."""
    out, cur = [], []
    for ch in text.lower():
        if "a" <= ch <= "z":
            cur.append(ch)
        elif cur:
            out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return out


def vocabulary():
    """Every word the grammar can produce, sorted (the tokenizer's word list after the specials)."""
    texts = ["a an and"]
    for table in (COLOR_WORDS, SHAPE_WORDS, MOTION_WORDS):
        for ws in table.values():
            texts.extend(ws)
    texts.extend(p.format("") for p in BG_PHRASES)
    for b in BACKGROUNDS:
        texts.append(b)
    texts.append("grey")
    vocab = set()
    for t in texts:
        vocab.update(words(t))
    return sorted(vocab)


class ObjectSpec:
    """One object: attributes plus its initial state and per-frame velocity / growth."""

    def __init__(self, color, shape, motion, x, y, r, vx, vy, dr, angle):
        self.color, self.shape, self.motion = color, shape, motion
        self.x, self.y, self.r = x, y, r
        self.vx, self.vy, self.dr = vx, vy, dr
        self.angle = angle

    def track(self, frames):
        """(x, y, r) per frame with reflection at the borders and at the size limits."""
        out = []
        x, y, r, vx, vy, dr = self.x, self.y, self.r, self.vx, self.vy, self.dr
        for _ in range(frames):
            out.append((x, y, r))
            x, y, r = x + vx, y + vy, r + dr
            if x - r < 0 or x + r > SIZE - 1:
                vx = -vx
                x = min(max(x, r), SIZE - 1 - r)
            if y - r < 0 or y + r > SIZE - 1:
                vy = -vy
                y = min(max(y, r), SIZE - 1 - r)
            if r < R_MIN_GROW or r > R_MAX_GROW:
                dr = -dr
                r = min(max(r, R_MIN_GROW), R_MAX_GROW)
        return out


R_MIN, R_MAX = 7.0, 10.0          # half size of a normal object
R_MIN_GROW, R_MAX_GROW = 5.0, 16.0
SPEED_MIN, SPEED_MAX = 1.4, 2.0   # pixels per frame


def _polygon(shape, r, angle):
    """Vertices (k, 2) of a polygon shape of half size r (sizes tuned to similar areas)."""
    if shape == "square":
        a = np.array([math.pi / 4 + k * math.pi / 2 for k in range(4)])
        rad = np.full(4, r * 1.2)
    elif shape == "diamond":
        a = np.array([k * math.pi / 2 for k in range(4)])
        rad = np.array([r * 1.25, r * 0.95, r * 1.25, r * 0.95])
        a = a + math.pi / 2
    elif shape == "triangle":
        a = np.array([-math.pi / 2 + k * 2 * math.pi / 3 for k in range(3)])
        rad = np.full(3, r * 1.35)
    elif shape == "star":
        a = np.array([-math.pi / 2 + k * math.pi / 5 for k in range(10)])
        rad = np.array([r * 1.4 if k % 2 == 0 else r * 0.6 for k in range(10)])
    else:
        raise ValueError(shape)
    a = a + angle
    return np.stack([rad * np.cos(a), rad * np.sin(a)], axis=1)


def _coverage(shape, cx, cy, r, angle, ss=4):
    """Anti-aliased coverage in [0,1] over the 64x64 grid (supersampled ss x ss inside the bbox)."""
    cov = np.zeros((SIZE, SIZE), np.float32)
    ext = r * 1.5 + 2
    x0, x1 = max(int(cx - ext), 0), min(int(cx + ext) + 2, SIZE)
    y0, y1 = max(int(cy - ext), 0), min(int(cy + ext) + 2, SIZE)
    if x1 <= x0 or y1 <= y0:
        return cov
    off = (np.arange(ss) + 0.5) / ss
    xs = (np.arange(x0, x1)[:, None] + off[None, :]).reshape(-1) - cx
    ys = (np.arange(y0, y1)[:, None] + off[None, :]).reshape(-1) - cy
    px, py = np.meshgrid(xs, ys)  # (H*ss, W*ss)
    if shape == "circle":
        inside = px * px + py * py <= r * r
    else:
        v = _polygon(shape, r, angle)
        inside = np.zeros(px.shape, bool)
        n = len(v)
        for i in range(n):  # even-odd ray casting
            xa, ya = v[i]
            xb, yb = v[(i + 1) % n]
            cond = (ya > py) != (yb > py)
            with np.errstate(divide="ignore", invalid="ignore"):
                xint = (xb - xa) * (py - ya) / (yb - ya) + xa
            inside ^= cond & (px < xint)
    h, w = y1 - y0, x1 - x0
    cov[y0:y1, x0:x1] = inside.reshape(h, ss, w, ss).mean(axis=(1, 3))
    return cov


def render(bg, objects, frames):
    """uint8 (frames, 64, 64, 3). Later objects are drawn over earlier ones."""
    video = np.empty((frames, SIZE, SIZE, 3), np.float32)
    video[:] = np.array(BACKGROUNDS[bg], np.float32)
    for obj in objects:
        col = np.array(COLORS[obj.color], np.float32)
        for f, (x, y, r) in enumerate(obj.track(frames)):
            cov = _coverage(obj.shape, x, y, r, obj.angle)[..., None]
            video[f] = video[f] * (1 - cov) + col * cov
    return np.clip(np.rint(video), 0, 255).astype(np.uint8)


def _make_object(rng, color, shape, motion):
    r = rng.uniform(R_MIN, R_MAX)
    speed = rng.uniform(SPEED_MIN, SPEED_MAX)
    travel = speed * (TRAIN_FRAMES - 1)
    lo, hi = r + 1, SIZE - 2 - r
    vx = vy = dr = 0.0
    x, y = rng.uniform(lo, hi), rng.uniform(lo, hi)
    if motion == "right":
        vx, x = speed, rng.uniform(lo, hi - travel)
    elif motion == "left":
        vx, x = -speed, rng.uniform(lo + travel, hi)
    elif motion == "down":
        vy, y = speed, rng.uniform(lo, hi - travel)
    elif motion == "up":
        vy, y = -speed, rng.uniform(lo + travel, hi)
    elif motion == "diagonal":
        s = speed * 1.2
        vx, vy = s * rng.choice([-1, 1]), s * rng.choice([-1, 1])
    elif motion in ("growing", "shrinking"):
        r = R_MIN_GROW + 0.5 if motion == "growing" else R_MAX_GROW - 0.5
        dr = (R_MAX_GROW - R_MIN_GROW - 1.5) / (TRAIN_FRAMES - 1)
        dr = dr if motion == "growing" else -dr
        m = R_MAX_GROW + 1
        x, y = rng.uniform(m, SIZE - 1 - m), rng.uniform(m, SIZE - 1 - m)
    angle = 0.0
    return ObjectSpec(color, shape, motion, x, y, r, vx, vy, dr, angle)


class Clip:
    def __init__(self, caption, bg, objects, video):
        self.caption, self.bg, self.objects, self.video = caption, bg, objects, video

    def labels(self):
        """Ground-truth attributes (for evaluator tests): bg and per-object (color, shape, motion)."""
        return {"background": self.bg,
                "objects": [{"color": o.color, "shape": o.shape, "motion": o.motion}
                            for o in self.objects]}


def _caption(rng, bg, objects, canonical, with_bg):
    def pick(lst):
        return lst[0] if canonical else lst[rng.integers(len(lst))]

    parts = []
    for o in objects:
        c = pick(COLOR_WORDS[o.color])
        art = "an" if c[0] in "aeiou" else "a"
        parts.append(f"{art} {c} {pick(SHAPE_WORDS[o.shape])} {pick(MOTION_WORDS[o.motion])}")
    text = " and ".join(parts)
    if with_bg:
        phrase = BG_PHRASES[0] if canonical else BG_PHRASES[rng.integers(len(BG_PHRASES))]
        text += " " + phrase.format(pick(COLOR_WORDS.get(bg, [bg])))
    return text


def _allowed(color, shape, motion, split):
    held = (color, shape, motion) in HELD_OUT
    return held if split == "heldout" else not held


def sample_clip(rng, split="train", frames=TRAIN_FRAMES, two_prob=0.3, canonical=False,
                bg_prob=0.7):
    """Draws one clip. split: "train" (never a HELD_OUT triple) or "heldout" (first object is one)."""
    bg = list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]
    n = 2 if (split == "train" and rng.random() < two_prob) else 1
    objects = []
    used_colors = set()
    for i in range(n):
        while True:
            if split == "heldout" and i == 0:
                color, shape, motion = HELD_OUT[rng.integers(len(HELD_OUT))]
            else:
                color = list(COLORS)[rng.integers(len(COLORS))]
                shape = SHAPES[rng.integers(len(SHAPES))]
                motion = MOTIONS[rng.integers(len(MOTIONS))]
            if color in used_colors:
                continue
            if split == "heldout" and i == 0:
                break
            if _allowed(color, shape, motion, "train"):
                break
        used_colors.add(color)
        objects.append(_make_object(rng, color, shape, motion))
    with_bg = canonical or rng.random() < bg_prob
    caption = _caption(rng, bg, objects, canonical, with_bg)
    return Clip(caption, bg, objects, render(bg, objects, frames))


def clip_from_attributes(rng, bg, attrs, frames=TRAIN_FRAMES):
    """A clip with given attributes [(color, shape, motion), ...] and canonical caption."""
    objects = [_make_object(rng, c, s, m) for c, s, m in attrs]
    caption = _caption(rng, bg, objects, True, True)
    return Clip(caption, bg, objects, render(bg, objects, frames))


def dataset(seed, count, split="train", frames=TRAIN_FRAMES, **kw):
    """Deterministic list of clips: clip i depends only on (seed, i)."""
    return [sample_clip(np.random.default_rng([seed, i]), split, frames, **kw) for i in range(count)]


def to_tensor_batch(clips):
    """The clips as the VAE encoder's input: float32 tensor (B, 3, F, 64, 64) in [-1, 1]."""
    return pixels_to_input(torch.from_numpy(np.stack([c.video for c in clips])))
