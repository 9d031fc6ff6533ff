#!/bin/sh
# An exec handle that feeds a ZFS stream to `zfs receive`, for one sender
# and one dataset only. A backup host's configuration:
#
#   neigh: {
#     laptop: {
#       id: LAPTOPNODEID...
#       exec: {
#         zfsrecv: ["/usr/local/libexec/pigeon/zfs-receive-handle", "LAPTOPNODEID...", "tank/backup/laptop"]
#       }
#     }
#   }
#
# and on the laptop:  zfs send -i @yesterday rpool/home@today | pigeon exec backup zfsrecv
#
# The toss runs a handle with exactly NNCP_SELF, NNCP_SENDER and NNCP_NICE in
# its environment (no PATH): absolute paths below. The sender may append its
# own arguments to the handle's: this refuses any.
# zfs needs root: examples/pigeon.sudoers allows exactly this command to the
# spool's user (and NoNewPrivileges=yes must be off in the systemd units).
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

me=zfs-receive-handle
if [ "$#" -ne 2 ]; then
	echo "$me: expected SENDER-ID DATASET from the configuration and nothing from the sender, got $# argument(s)" >&2
	exit 2
fi
allowed=$1
dataset=$2
if [ -z "${NNCP_SENDER:-}" ]; then
	echo "$me: NNCP_SENDER is not set: this runs as an exec handle of pigeon toss, not by hand" >&2
	exit 2
fi
if [ "$NNCP_SENDER" != "$allowed" ]; then
	echo "$me: sender $NNCP_SENDER may not write $dataset (only $allowed may)" >&2
	exit 1
fi
# -u: do not mount what arrives; -F: roll back to the last snapshot received first.
exec sudo -n /usr/sbin/zfs receive -u -F "$dataset"
