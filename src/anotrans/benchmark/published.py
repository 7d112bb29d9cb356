"""AUROC values published in the AnoTrans paper (ICANN 2022), transcribed from its Tables 1-5.

They are shown beside our measurements, marked as published; nothing in anotrans is tuned to them.
Column names are the paper's. Where the paper's name differs from the data set's own name, the
mapping is in ``COLUMN_ALIASES`` (the paper's MVTec "nut" is ambiguous: hazelnut or metal_nut).
"""

from __future__ import annotations

CIFAR10_CLASSES = ("frog", "bird", "cat", "deer", "dog", "horse", "ship", "truck")
STL10_CLASSES = ("bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")
MVTEC_COLUMNS = (
    "bottle", "capsule", "carpet", "grid", "leather", "nut",
    "pill", "screw", "brush", "transistor", "wood", "zipper",
)  # fmt: skip

# The paper's column name -> the category / class name on disk.
COLUMN_ALIASES = {"nut": "metal_nut", "brush": "toothbrush", "car": "car"}


def _row(columns: tuple[str, ...], values: str, average: float) -> dict[str, float]:
    """One published table row from its cells as printed (space separated) plus its average."""
    cells = [float(v) for v in values.split()]
    return dict(zip(columns, cells, strict=True)) | {"average": average}


PUBLISHED: dict[str, dict[str, dict[str, float]]] = {
    "table1": {
        "anotrans-vit": {"cifar10": 0.963, "stl10": 0.946},
        "anotrans": {"cifar10": 0.978, "stl10": 0.982},
    },
    "table2": {
        "ganomaly": {"folder": 0.900},
        "skip-ganomaly": {"folder": 0.840},
        "sagan": {"folder": 0.960},
        "anotrans": {"folder": 0.996},
    },
    "table3": {
        "ganomaly": _row(CIFAR10_CLASSES, "0.512 0.523 0.466 0.467 0.502 0.387 0.534 0.579", 0.496),
        "skip-ganomaly": _row(CIFAR10_CLASSES, "0.955 0.611 0.670 0.845 0.706 0.666 0.909 0.857", 0.777),
        "sagan": _row(CIFAR10_CLASSES, "0.996 0.957 0.951 0.998 0.975 0.891 0.990 0.980", 0.967),
        "anotrans-cbam": _row(CIFAR10_CLASSES, "1.000 0.932 0.977 0.998 0.940 0.941 1.000 0.969", 0.970),
        "anotrans": _row(CIFAR10_CLASSES, "1.000 0.944 0.960 0.999 0.968 0.949 0.999 0.990", 0.976),
    },
    "table4": {
        "sagan": _row(STL10_CLASSES, "0.929 1.000 0.963 0.996 0.859 0.947 0.979 0.999 0.998", 0.963),
        "skip-ganomaly": _row(STL10_CLASSES, "0.588 0.902 0.556 0.664 0.581 0.726 0.590 0.568 0.770", 0.661),
        "anotrans-cbam": _row(STL10_CLASSES, "0.916 0.999 0.937 0.991 0.821 0.922 0.938 0.993 0.997", 0.951),
        "anotrans": _row(STL10_CLASSES, "0.966 1.000 0.985 0.998 0.942 0.975 0.980 0.999 0.997", 0.984),
    },
    "table5": {
        "sagan": _row(
            MVTEC_COLUMNS, "0.873 0.951 0.966 0.918 0.984 0.922 0.806 0.991 0.824 0.832 0.931 0.742", 0.896
        ),
        "skip-ganomaly": _row(
            MVTEC_COLUMNS, "0.882 0.869 0.964 0.966 0.955 0.954 0.862 0.976 0.900 0.956 0.930 0.898", 0.926
        ),
        "anotrans-plain": _row(
            MVTEC_COLUMNS, "1.000 0.988 0.959 0.945 0.928 0.991 0.994 0.992 0.999 0.984 0.769 1.000", 0.962
        ),
        "anotrans": _row(
            MVTEC_COLUMNS, "1.000 0.978 0.974 0.938 0.991 0.965 1.000 0.986 0.981 0.989 0.970 1.000", 0.981
        ),
    },
}
