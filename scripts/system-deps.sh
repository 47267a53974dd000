#!/usr/bin/env bash
# Check the Debian packages VillageGrid needs; install the missing ones when run as root.
#   scripts/system-deps.sh          packages the app needs (PDF fonts and shaping)
#   scripts/system-deps.sh --test   also what the test suite needs (browser, PDF tools)
#   scripts/system-deps.sh --dist   also what `make dist` and `make dist-test` need
# Exits 0 when everything is present afterwards, 1 when something is still missing.
set -u
runtime=(fonts-noto-cjk libharfbuzz-subset0 libpango-1.0-0 libpangoft2-1.0-0 fontconfig)
testing=(chromium poppler-utils libreoffice-calc-nogui)
dist=(binutils gcc libc6-dev zlib1g-dev fonts-dejavu-core debootstrap poppler-utils)
want=("${runtime[@]}")
[ "${1:-}" = "--test" ] && want+=("${testing[@]}")
[ "${1:-}" = "--dist" ] && want+=("${dist[@]}")

missing=()
for pkg in "${want[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "安装缺少的系统软件包：${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null && exit 0
  echo "apt-get 安装失败。" >&2
  exit 1
fi
echo "缺少系统软件包：${missing[*]}" >&2
echo "请以 root 运行：apt-get install ${missing[*]}" >&2
exit 1
