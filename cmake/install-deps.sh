#!/bin/sh
# Installs what calib needs on Debian 12 (as root, or through sudo).
# ocl-icd-opencl-dev: Debian's libdnnl-dev only recommends it, but its dnnl-config.cmake calls
# find_package(OpenCL) and fails without it. openmpi-bin, libopenmpi-dev: calib-host --fleet (docs/fleet.md)
# and its tests under mpirun.
set -e
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    cmake ninja-build g++ make libc6-dev \
    libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev libboost-filesystem1.81-dev \
    libdnnl-dev ocl-icd-opencl-dev libsqlite3-dev catch2 openmpi-bin libopenmpi-dev >/dev/null
