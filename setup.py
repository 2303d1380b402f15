"""recip_acme: Reciprocators for Acme agents on Melting Pot.

Dependencies are pinned in requirements/lock.txt and installed by `make install`,
not here: dm-acme must be installed with --no-deps (its Launchpad pin has no Python
3.11 build) and dm-meltingpot needs its asset archive staged (launch/setup_meltingpot.py).
"""

import setuptools

setuptools.setup(
    name="recip_acme",
    version="0.1.0",
    description="Reciprocators (Zhou, Hong & Kao, NeurIPS 2024) on Acme, Reverb and Melting Pot.",
    python_requires=">=3.11,<3.12",
    packages=setuptools.find_packages(
        include=["recip_acme", "recip_acme.*", "substrates", "substrates.*",
                 "launch", "launch.*"]),
    package_data={"recip_acme": ["data/*.csv", "data/*.md"]},
    install_requires=[],
    # The distributed engine; `make install` installs requirements/ray.txt (its pins).
    extras_require={"ray": ["ray==2.60.0"]},
)
