#!/bin/sh
# Builds pinion inside an image's runtime stage (see dockerfile.c): compiles the server
# and the worker extension against the base image's own C library, installs them under
# OUT/usr/local, and bundles the shared libraries the binary needs (and libcurl, which
# it opens on first use) into OUT/usr/local/lib/pinion/lib, found through the binary's
# RPATH, so the model's stage needs no extra packages. tini comes along as /sbin/tini.
#   runtime-stage.sh SOURCE OUT
set -eu
source=$1
out=$2
libdir=/usr/local/lib/pinion/lib
python_config=$(command -v python3-config || ls /usr/bin/python3*-config | head -n 1)
# Warnings are not errors here: another compiler release must not fail a model's build.
make -C "$source" -j"$(nproc)" BUILD=/tmp/pinion-build PREFIX=/usr/local DESTDIR="$out" \
  WARNINGS="-Wall -Wno-unused-parameter" PYTHON_CONFIG="$python_config" CC="cc -Wl,--disable-new-dtags,-rpath,$libdir" install >/dev/null
mkdir -p "$out$libdir" "$out/sbin"
curl_lib=$(ldconfig -p | awk '/libcurl\.so\.4 /{print $NF; exit}')
for lib in $( (ldd "$out/usr/local/bin/pinion"; [ -n "$curl_lib" ] && echo "x => $curl_lib (0)" && ldd "$curl_lib") |
  awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u); do
  case $(basename "$lib") in
  libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | ld-linux*) ;;
  *) cp -L "$lib" "$out$libdir/" ;;
  esac
done
cp "$(command -v tini-static || command -v tini)" "$out/sbin/tini"
