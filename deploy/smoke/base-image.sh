#!/usr/bin/env bash
# Build the Dockerfiles' base image locally, for a machine that cannot pull images: a Debian
# bookworm root (debootstrap) with Python 3.11 and venv, carrying this host's CA bundle so
# that pip and apt inside builds trust what the host trusts. Imported and tagged as $1.
#   deploy/smoke/base-image.sh segmento-pulse-smoke-base:bookworm
set -euo pipefail
tag=$1
root_dir="${SMOKE_CACHE:-.smoke}/rootfs"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "base image $tag: present"
    exit 0
fi
command -v debootstrap >/dev/null || apt-get install -y -q debootstrap
if [[ ! -x "$root_dir/usr/bin/python3" ]]; then
    rm -rf "$root_dir"
    mkdir -p "$root_dir"
    echo "base image $tag: debootstrap bookworm into $root_dir (about a minute)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$root_dir" "$mirror" >"$root_dir.log" 2>&1 \
        || { tail -20 "$root_dir.log"; exit 1; }
fi
cp /etc/ssl/certs/ca-certificates.crt "$root_dir/etc/ssl/certs/ca-certificates.crt"
rm -rf "$root_dir"/var/cache/apt/archives/*.deb "$root_dir"/var/lib/apt/lists/*
tar -C "$root_dir" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$tag" >/dev/null
echo "base image $tag: imported"
