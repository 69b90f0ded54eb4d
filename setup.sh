#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine (Python 3.11, root or sudo) for the pipeline:
# TeX Live via apt when latexmk is missing, poppler-utils (page checks of the PDFs) when pdftoppm
# is missing, chromium (headless check of the HTML report) when
# chromium is missing, then the exact versions of requirements.lock
# (runtime, test and lint tools) and the project itself via pip.
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v latexmk >/dev/null 2>&1; then
  echo "installing TeX Live (latexmk, pdflatex, bibtex) via apt-get ..."
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    latexmk texlive-latex-base texlive-latex-recommended texlive-latex-extra \
    texlive-fonts-recommended texlive-science >/dev/null
fi
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium (headless check of the HTML report) via apt-get ..."
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
if ! command -v pdftoppm >/dev/null 2>&1; then
  echo "installing poppler-utils (page checks of the built PDFs) via apt-get ..."
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null
fi
python3 -m pip install -q --upgrade pip
# everything pinned, torch included (torch==2.13.0, the CPU wheel); regenerate with tools/lock.sh
python3 -m pip install -q -r requirements.lock
python3 -m pip install -q --no-deps -e .
echo "setup done: run 'snakemake --cores all' (full study) or add '--configfile config/quick.yaml'"
