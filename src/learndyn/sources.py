"""Pinned external data: file names, checksums, URLs and published reference numbers.

Importable without numpy or xarray: the workflow reads these while building the DAG (the shipped
Fashion-MNIST files are inputs of the data job), and so does the config check.
"""

FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# where the `fashion_mnist` generator reads its images (key `source`)
FASHION_SOURCES = ("shipped", "path", "download")
# Published reference on the full data (Fashion-MNIST benchmark, github.com/zalandoresearch/
# fashion-mnist: MLPClassifier, hidden layers 256-128-100): test accuracy quoted by the paper.
FASHION_MLP_REFERENCE = 0.8833
# source: shipped -- the first 2,000 official test images, in the repository (data/.../README.md)
FASHION_SHIPPED_DIR = "data/fashion-mnist-2k"
FASHION_SUBSET_FILES = ("t10k-images-idx3-ubyte-first2000.gz", "t10k-labels-idx1-ubyte-first2000.gz")
FASHION_SHA256 = {
    "t10k-images-idx3-ubyte-first2000.gz": "a2d469e967c6f16f941e652e24b2bc5422a63b1a71325ff49da1bb5a3350b4dc",
    "t10k-labels-idx1-ubyte-first2000.gz": "09e12ea2704e7fc948433dfc4fc0c69cf8e2e18611cf6b3b80e6ad82dec4dcba",
}
# source: download -- the four official files and their published MD5s (Fashion-MNIST README)
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_CACHE = "data/cache/fashion-mnist"
FASHION_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
# keys each source reads besides generator, n_train, n_test, seed
FASHION_SOURCE_KEYS = {"shipped": ("path",), "path": ("path",), "download": ("url", "cache")}

# input dimension of the loaders whose size is not in the config
FIXED_DIMENSIONS = {"digits": 64, "fashion_mnist": 784}
