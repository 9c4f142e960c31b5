#!/usr/bin/env python3
"""Writes the handwritten-digits data set that ships with scikit-learn
(1,797 images of 8x8 pixels, values 0-16, 10 classes; from the UCI
"Optical Recognition of Handwritten Digits" data) as .npy arrays for Mnemo's
few-shot samples and tests:

  digits_images.npy  uint8  [7188, 64]  each image, flattened row by row
  digits_labels.npy  int64  [7188]      class = 10 * r + digit

As Omniglot is in few-shot work (Santoro et al. 2016), the data set is
enlarged with rotations: the images rotated by r * 90 degrees (r = 0..3)
form classes of their own, so the digits' 10 classes become 40.

Run it again with:  python3 data/make_digits.py   (needs scikit-learn and NumPy)
"""
import os

import numpy as np
from sklearn.datasets import load_digits

here = os.path.dirname(os.path.abspath(__file__))
digits = load_digits()
images = digits.images.astype(np.uint8)          # [1797, 8, 8], values 0..16
labels = digits.target.astype(np.int64)          # [1797], 0..9

all_images, all_labels = [], []
for r in range(4):
    rotated = np.rot90(images, k=r, axes=(1, 2))
    all_images.append(rotated.reshape(len(images), 64))
    all_labels.append(labels + 10 * r)

np.save(os.path.join(here, "digits_images.npy"), np.ascontiguousarray(np.concatenate(all_images)))
np.save(os.path.join(here, "digits_labels.npy"), np.concatenate(all_labels))
print("wrote", sum(len(x) for x in all_images), "images in", len(set(np.concatenate(all_labels))), "classes")
