"""Handwritten digit recognition with scikit-learn's bundled digits data set.

setup() trains a support-vector classifier on the 1,797 8x8 images that ship with
scikit-learn (no download), caching the fitted model beside this file so later
starts only load it. predict() takes an image of one digit, dark on light or light
on dark, and returns the digit and the probability of each of the ten classes.
"""
import os
import pickle

import numpy as np
from PIL import Image, ImageOps
from sklearn import datasets, svm

from cog import BaseModel, BasePredictor, Input, Path

CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".digits-model.pickle")


class Output(BaseModel):
    label: int
    probabilities: list[float]


def train():
    digits = datasets.load_digits()
    classifier = svm.SVC(gamma=0.001, C=10.0, probability=True, random_state=0)
    classifier.fit(digits.data, digits.target)
    return classifier


def to_features(path):
    """An image as the data set's 64 features: 8x8 grey levels from 0 (background) to 16."""
    image = Image.open(path).convert("L")
    pixels = np.asarray(image, dtype=np.float64)
    if pixels.mean() > 127:  # dark digit on a light background: invert
        image = ImageOps.invert(image)
    image = image.resize((8, 8), Image.LANCZOS)
    pixels = np.asarray(image, dtype=np.float64)
    span = pixels.max() - pixels.min()
    scaled = (pixels - pixels.min()) / span * 16.0 if span else np.zeros_like(pixels)
    return scaled.reshape(1, 64)


class Predictor(BasePredictor):
    def setup(self):
        try:
            with open(CACHE, "rb") as cached:
                self.classifier = pickle.load(cached)
        except (OSError, pickle.UnpicklingError, EOFError):
            self.classifier = train()
            try:
                with open(CACHE, "wb") as cached:
                    pickle.dump(self.classifier, cached)
            except OSError:
                pass  # a read-only model folder still works, it just trains each start

    def predict(self, image: Path = Input(description="An image of one handwritten digit")) -> Output:
        features = to_features(image)
        probabilities = self.classifier.predict_proba(features)[0]
        label = int(self.classifier.classes_[int(np.argmax(probabilities))])
        return Output(label=label, probabilities=[round(float(p), 6) for p in probabilities])
