"""The kubelet's atomic writer for Secret, ConfigMap and projected volumes, reproduced.

A volume directory DIR holds:
  DIR/..2026_11_25_18_00_00.123456789/   the payload (one timestamped directory)
  DIR/..data -> ..2026_11_25_18_00_00.123456789
  DIR/tls.crt -> ..data/tls.crt            one symlink per visible file
An update writes the new payload into a new timestamped directory, points a
..data_tmp symlink at it, renames ..data_tmp over ..data (the one atomic step), adds
or removes the visible symlinks that changed, and deletes the old payload directory.
"""

import os
import shutil
import time


def _stamp():
    ns = time.time_ns()
    return time.strftime("..%Y_%m_%d_%H_%M_%S", time.gmtime(ns // 10**9)) + ".%09d" % (
        ns % 10**9)


class AtomicVolume:
    def __init__(self, directory, files, mode=0o440):
        """files: {visible name: bytes}. Creates the volume with its first payload."""
        self.dir = directory
        self.mode = mode
        os.makedirs(directory, exist_ok=True)
        self.names = set()
        self.update(files)

    def _payload_dir(self):
        data = os.path.join(self.dir, "..data")
        return os.readlink(data) if os.path.islink(data) else None

    def update(self, files):
        """One atomic update, the kubelet's way. files: {visible name: bytes}."""
        old = self._payload_dir()
        stamp = _stamp()
        while os.path.exists(os.path.join(self.dir, stamp)):
            stamp = _stamp()
        payload = os.path.join(self.dir, stamp)
        os.mkdir(payload)
        for name, data in files.items():
            p = os.path.join(payload, name)
            with open(p, "wb") as f:
                f.write(data)
            os.chmod(p, self.mode)
        tmp = os.path.join(self.dir, "..data_tmp")
        os.symlink(stamp, tmp)
        os.rename(tmp, os.path.join(self.dir, "..data"))
        for name in files:
            link = os.path.join(self.dir, name)
            if not os.path.islink(link):
                os.symlink(os.path.join("..data", name), link)
        for name in self.names - set(files):
            os.unlink(os.path.join(self.dir, name))
        self.names = set(files)
        if old:
            shutil.rmtree(os.path.join(self.dir, old))


def read(path):
    with open(path, "rb") as f:
        return f.read()
