#!/usr/bin/env bash
# A report section at the seed's own budget on an accelerator machine, results brought back
# in one file.
#
#   bash tools/accelerator_report.sh prepare               # here, with the network: fills .accel/
#   bash tools/accelerator_report.sh run [OUT] [SECTION]   # there: the report, packed into OUT
#
# SECTION is a section of tools/report.py (default seed000; seed004_60k is the other one
# whose data .accel/ carries: Fashion-MNIST's 60,000 images).
#
# `prepare` downloads the three pure-Python wheels an accelerator image may lack
# (ml-collections, mlxtend, tensorboardX; JAX, flax, optax and orbax are taken as
# installed there) and copies Debian's Fashion-MNIST files into .accel/ (ignored
# by git, about 32 MB), so the machine needs no network.
# `run` installs those wheels into /tmp/site, then runs
#   python3 -m tools.report --budget=paper --sections=SECTION
# (15,000 generator steps per run, batch 50, 3 vmapped seeds, Fashion-MNIST then
# mnist_5k, XLA's own convolutions, float32 matmuls at full precision) for at most
# $GAN_JAX_ACCEL_SECONDS seconds (default 540), and packs the report (markdown,
# figures, metrics and sample grids; no checkpoints) into OUT/SECTION_paper.tar.gz
# with the log beside it. With the device tool of this project:
#   run(command="bash tools/accelerator_report.sh run $OUT seed000", carry=[".accel"],
#       timeout_s=600)
# then `tar xzf <files_at>/seed000_paper.tar.gz -C results/` here. A run cut by the
# time limit keeps its finished runs in the tarball; the unfinished ones restart
# from step 0 on the next (fresh) machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ACCEL=.accel
mode=${1:-}
PYTHON=${PYTHON:-python3}  # there: the image's python3 (JAX with CUDA)

case "$mode" in
  prepare)
    mkdir -p "$ACCEL/whl" "$ACCEL/fashion-mnist"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$ACCEL/whl" \
      ml-collections==1.1.0 mlxtend==0.25.0 tensorboardX==2.6.5
    src=${GAN_JAX_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
    cp "$src"/*-ubyte.gz "$ACCEL/fashion-mnist/"
    du -sh "$ACCEL"
    ;;
  run)
    out=${2:-${OUT:-/tmp/accel_out}}
    section=${3:-seed000}
    case "$section" in
      seed000|seed004|seed004_60k|dirac|methods) ;;
      *) echo "unknown section '$section': seed000 | seed004 | seed004_60k | dirac | methods" >&2
         exit 2 ;;
    esac
    mkdir -p "$out"
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site "$ACCEL"/whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
    export GAN_JAX_FASHION_MNIST_DIR=$PWD/$ACCEL/fashion-mnist
    export JAX_DEFAULT_MATMUL_PRECISION=highest
    "$PYTHON" -c "import jax; print('JAX', jax.__version__, jax.devices())" | tee "$out/log.txt"
    status=0
    # shellcheck disable=SC2086  # GAN_JAX_ACCEL_ARGS: extra report flags (e.g. --smoke)
    timeout "${GAN_JAX_ACCEL_SECONDS:-540}" "$PYTHON" -m tools.report --budget=paper \
      --sections="$section" --out="/tmp/${section}_paper" ${GAN_JAX_ACCEL_ARGS:-} 2>&1 \
      | tee -a "$out/log.txt" || status=$?
    tar czf "$out/${section}_paper.tar.gz" --exclude=checkpoints --exclude=tb \
      -C /tmp "${section}_paper"
    ls -la "$out"
    exit "$status"
    ;;
  *)
    echo "usage: $0 prepare | run [OUT] [SECTION]" >&2
    exit 2
    ;;
esac
