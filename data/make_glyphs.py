#!/usr/bin/env python3
"""Renders "glyphs", an Omniglot-like data set for Mnemo's few-shot samples:
characters of many of the world's writing systems, drawn from Debian's Noto
fonts with random distortions, so that each character is a class and each
drawing an instance, as Omniglot's 1,623 handwritten characters of 50
alphabets are (Lake et al. 2015). Omniglot itself cannot be fetched where
Mnemo is developed; rendering characters from fonts with distortions is the
published substitute (Synbols, Lacoste et al. 2020; OmniPrint, Sun et al.
2021).

Writes, beside this file:

  glyphs28.npz  images  uint8 [N, 784]  28 x 28 drawings, row by row; ink is high (0 blank .. 255 full)
                labels  int64 [N]       class of each drawing, 0 .. C-1
                alphabets int64 [C]     the writing system of each class, 0 .. A-1
                evaluation int64 [A]    1 for the writing systems held out for testing, else 0
  glyphs20.npz  the same drawings at 20 x 20 (images [N, 400])
  glyphs.tsv    one line per class: class, alphabet, script, set, code point,
                character, Unicode name, fonts it was drawn from

Every choice, and why:

- Writing systems: every Noto family for one script in the fonts directory
  (Noto Sans X, Noto Serif X and the script's other families, such as
  Naskh and Kufi for Arabic), plus Latin, Greek and Cyrillic from Noto Sans
  and Noto Serif. Scripts of symbols, numbers, music, emoji, and the CJK
  ideographs (not in fonts-noto-core) are left out, as are scripts with
  fewer than MIN_CHARACTERS letters. Of the 133 that qualify, SCRIPTS (50,
  as Omniglot's alphabets) are taken in an order drawn from the seed.
- Characters: the code points a script's fonts map that Unicode calls
  letters (categories Lu, Ll, Lt, Lo), of that script (the first word of
  the character's name is the script's), so no marks, digits or
  punctuation. At most MAX_CHARACTERS per script (Omniglot's alphabets have
  14 to 55, 32 on average), taken evenly over the script's code points; a character whose
  drawing is blank, or the same as an earlier one of its script at 28 x 28
  (such as compatibility forms), is dropped.
- Drawings: DRAWINGS per character (Omniglot has 20 drawers). Each picks a
  font variant (family and weight, Regular or Bold, among those that have
  the character), renders the character large, thins or thickens its
  strokes (erosion or dilation by 1 or 2 pixels at 4x the output size, or
  neither), scales the glyph's box to fit, then applies a random affine map:
  rotation within +-ROTATION degrees, shear within +-SHEAR, scale within
  SCALE, translation within +-TRANSLATE of the side; then shrinks it to
  28 x 28 and 20 x 20 with a box filter, in 16 grey levels (0, 17, .., 255:
  half the compressed size of 256 levels; Omniglot's drawings are black and
  white). Ink is white on black, as MNIST's.
- Split: the writing systems are shuffled by the seed and EVALUATION of them
  held out (Omniglot: 30 background and 20 evaluation alphabets), so the
  test classes come from scripts never seen in training.
- Deterministic: the same fonts and seed give the same arrays (each
  character's drawings draw from a generator seeded by the seed and the
  character).

Run it again with:
    apt-get install fonts-noto-core fonts-noto-extra python3-pil python3-fonttools python3-numpy
    python3 data/make_glyphs.py [--seed 1] [--fonts /usr/share/fonts/truetype/noto]
(or Pillow, fontTools and NumPy from PyPI). Tests and samples read only the
arrays, which are committed.
"""
import argparse
import hashlib
import os
import re
import unicodedata
from collections import defaultdict

import numpy as np
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFilter, ImageFont

MIN_CHARACTERS = 14
MAX_CHARACTERS = 40
SCRIPTS = 50
DRAWINGS = 20
EVALUATION = 20
ROTATION = 15.0
SHEAR = 0.25
SCALE = (0.8, 1.1)
TRANSLATE = 0.08
SIDE = 28
BIG = 4 * SIDE          # the drawing's working resolution
RENDER = 160            # font size for the first render

# Families that are not a script's letters.
SKIP = re.compile(r"Symbols|Math|Music|Emoji|Numbers|Siyaq|SignWriting|Display|Mono|Nastaliq|Unjoined|"
                  r"Test|UI$|Hieroglyphs|Cuneiform|LinearA|Duployan|Znamenny|Tangut|Nushu|Yi$")
# The words a script is spelled with in Unicode's character names, where they differ from the family name.
NAME_OF = {"CanadianAboriginal": "CANADIAN SYLLABICS", "NKo": "NKO", "PhagsPa": "PHAGS-PA",
           "OlChiki": "OL CHIKI", "MeeteiMayek": "MEETEI MAYEK", "MendeKikakui": "MENDE KIKAKUI",
           "HanifiRohingya": "HANIFI ROHINGYA", "Tifinagh": "TIFINAGH", "PahawhHmong": "PAHAWH HMONG"}


def script_words(family_script):
    """'OldItalic' -> 'OLD ITALIC': how a script's characters are named."""
    if family_script in NAME_OF:
        return NAME_OF[family_script]
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", family_script).upper()


def font_files(folder):
    """Script name -> list of (family, weight, path) for Regular and Bold weights."""
    scripts = defaultdict(list)
    for name in sorted(os.listdir(folder)):
        m = re.fullmatch(r"Noto(Sans|Serif|Kufi|Naskh|Rashi|Looped)([A-Za-z]*)-(Regular|Bold)\.ttf", name)
        if not m:
            continue
        style, script, weight = m.groups()
        if style in ("Kufi", "Naskh", "Rashi", "Looped"):
            family, script = style, script  # NotoKufiArabic: style Kufi, script Arabic
        else:
            family = style
        if script == "":
            # Noto Sans and Noto Serif themselves: Latin, Greek and Cyrillic.
            for s in ("Latin", "Greek", "Cyrillic"):
                scripts[s].append((family, weight, os.path.join(folder, name)))
            continue
        if SKIP.search(script) or SKIP.search(name):
            continue
        scripts[script].append((family, weight, os.path.join(folder, name)))
    return scripts


def letters(script, fonts):
    """The script's letters that at least one of its fonts maps, in code point order."""
    words = script_words(script)
    covered = defaultdict(list)
    for family, weight, path in fonts:
        cmap = TTFont(path, lazy=True).getBestCmap() or {}
        for cp in cmap:
            covered[cp].append((family, weight, path))
    out = []
    for cp in sorted(covered):
        ch = chr(cp)
        if unicodedata.category(ch) not in ("Lu", "Ll", "Lt", "Lo"):
            continue
        name = unicodedata.name(ch, "")
        if not (name.startswith(words + " ") or (script == "Latin" and name.startswith("LATIN "))):
            continue
        # Latin: the basic alphabet only, upper and lower case (its extensions are accents on the same shapes).
        if script == "Latin" and not ("A" <= ch <= "Z" or "a" <= ch <= "z"):
            continue
        out.append((cp, covered[cp]))
    return out


def render(ch, path, rng):
    """One drawing of ch from the font at path: [SIDE, SIDE] and [20, 20] uint8, or None if blank."""
    font = ImageFont.truetype(path, RENDER)
    canvas = Image.new("L", (3 * RENDER, 3 * RENDER), 0)
    ImageDraw.Draw(canvas).text((1.5 * RENDER, 1.5 * RENDER), ch, fill=255, font=font, anchor="mm")
    box = canvas.getbbox()
    if box is None:
        return None
    glyph = canvas.crop(box)
    # Fit the glyph's box into 70% of the working side, keeping its proportions.
    w, h = glyph.size
    fit = 0.7 * BIG / max(w, h)
    glyph = glyph.resize((max(1, round(w * fit)), max(1, round(h * fit))), Image.LANCZOS)
    # Stroke width: erode or dilate by 1 or 2 pixels, or neither.
    stroke = rng.choice(["erode", "none", "dilate", "dilate2"], p=[0.2, 0.3, 0.3, 0.2])
    if stroke == "erode":
        glyph = glyph.filter(ImageFilter.MinFilter(3))
    elif stroke == "dilate":
        glyph = glyph.filter(ImageFilter.MaxFilter(3))
    elif stroke == "dilate2":
        glyph = glyph.filter(ImageFilter.MaxFilter(5))
    big = Image.new("L", (BIG, BIG), 0)
    big.paste(glyph, ((BIG - glyph.size[0]) // 2, (BIG - glyph.size[1]) // 2))
    # Random affine map about the centre: output point p comes from input A^-1 (p - c - t) + c.
    angle = np.radians(rng.uniform(-ROTATION, ROTATION))
    shear = rng.uniform(-SHEAR, SHEAR)
    scale = rng.uniform(*SCALE)
    tx, ty = rng.uniform(-TRANSLATE, TRANSLATE, size=2) * BIG
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    forward = scale * rotation @ np.array([[1.0, shear], [0.0, 1.0]])
    inverse = np.linalg.inv(forward)
    c = np.array([BIG / 2, BIG / 2])
    offset = c - inverse @ (c + np.array([tx, ty]))
    drawn = big.transform((BIG, BIG), Image.AFFINE, (inverse[0, 0], inverse[0, 1], offset[0],
                                                     inverse[1, 0], inverse[1, 1], offset[1]), resample=Image.BILINEAR)
    small = quantised(np.asarray(drawn.resize((SIDE, SIDE), Image.BOX), dtype=np.uint8))
    smaller = quantised(np.asarray(drawn.resize((20, 20), Image.BOX), dtype=np.uint8))
    if small.max() < 64:
        return None
    return small, smaller


def quantised(image):
    """16 grey levels (0, 17, .., 255): the arrays compress to half the size, and Omniglot's own drawings are black and white."""
    return (image // 16) * 17


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fonts", default="/usr/share/fonts/truetype/noto")
    parser.add_argument("--out", default=here)
    args = parser.parse_args()

    scripts = font_files(args.fonts)
    # Writing systems in an order drawn from the seed; the first SCRIPTS with
    # enough letters are kept, and the first EVALUATION of those held out.
    shuffled = [sorted(scripts)[i] for i in np.random.RandomState(args.seed).permutation(len(scripts))]
    chosen = {}
    for script in shuffled:
        if len(chosen) == SCRIPTS:
            break
        found = letters(script, scripts[script])
        if len(found) > MAX_CHARACTERS:
            picks = np.linspace(0, len(found) - 1, MAX_CHARACTERS).round().astype(int)
            found = [found[i] for i in picks]
        # Drop characters whose plain drawing is blank or repeats an earlier one of the script.
        seen, kept = set(), []
        for cp, fonts in found:
            plain = render(chr(cp), fonts[0][2], np.random.RandomState(0))
            if plain is None:
                continue
            key = hashlib.sha1(plain[0].tobytes()).hexdigest()
            if key in seen:
                continue
            seen.add(key)
            kept.append((cp, fonts))
        if len(kept) >= MIN_CHARACTERS:
            chosen[script] = kept
    evaluation = set(list(chosen)[:EVALUATION])
    kept_scripts = sorted(chosen)
    alphabet_of = {s: i for i, s in enumerate(kept_scripts)}
    classes = [(script, cp, fonts) for script in kept_scripts for cp, fonts in chosen[script]]

    images, images20, labels, failed = [], [], [], 0
    for label, (script, cp, fonts) in enumerate(classes):
        rng = np.random.RandomState([args.seed, cp])
        made = 0
        while made < DRAWINGS:
            family, weight, path = fonts[rng.randint(len(fonts))]
            drawing = render(chr(cp), path, rng)
            if drawing is None:
                failed += 1
                if failed > 10 * len(classes):
                    raise SystemExit("too many blank drawings")
                continue
            images.append(drawing[0].reshape(-1))
            images20.append(drawing[1].reshape(-1))
            labels.append(label)
            made += 1

    alphabets = np.array([alphabet_of[s] for s, _, _ in classes], dtype=np.int64)
    held_out = np.array([1 if s in evaluation else 0 for s in kept_scripts], dtype=np.int64)
    np.savez_compressed(os.path.join(args.out, "glyphs28.npz"), images=np.stack(images), labels=np.array(labels, dtype=np.int64),
                        alphabets=alphabets, evaluation=held_out)
    np.savez_compressed(os.path.join(args.out, "glyphs20.npz"), images=np.stack(images20), labels=np.array(labels, dtype=np.int64),
                        alphabets=alphabets, evaluation=held_out)
    with open(os.path.join(args.out, "glyphs.tsv"), "w", encoding="utf-8") as f:
        f.write("class\talphabet\tscript\tset\tcode point\tcharacter\tname\tfonts\n")
        for label, (script, cp, fonts) in enumerate(classes):
            names = ",".join(sorted(set(f"{family} {weight}" for family, weight, _ in fonts)))
            f.write(f"{label}\t{alphabet_of[script]}\t{script}\t{'evaluation' if script in evaluation else 'background'}\t"
                    f"U+{cp:04X}\t{chr(cp)}\t{unicodedata.name(chr(cp))}\t{names}\n")
    background = [s for s in kept_scripts if s not in evaluation]
    print(f"{len(classes)} classes from {len(kept_scripts)} scripts, {len(images)} drawings; "
          f"background {len(background)} scripts ({sum(1 for s, _, _ in classes if s not in evaluation)} classes), "
          f"evaluation {len(evaluation)} scripts ({sum(1 for s, _, _ in classes if s in evaluation)} classes)")


if __name__ == "__main__":
    main()
