#!/usr/bin/python3
"""A local RTSP server for the video-source tests: serves H.264 files in a loop, without re-encoding.

Each mount plays one or more files back to back, forever, at their own frame rate, on a clock
that runs from the server's start like a camera's: a client joins at the key frame before "now".
The files are demuxed once into memory and fed through an appsrc, so looping is seamless
(timestamps keep rising). Bound to 127.0.0.1 only.

  /usr/bin/python3 rtsp_server.py --port 8554 --mount /person=a.mp4 --mount /change=a.mp4,b.mp4 \
      [--user U --password P]

Prints "READY <port>" once it accepts connections. Signals: SIGUSR1 stops sending frames on every
open session while keeping the connections (a camera that hangs), SIGUSR2 resumes, SIGTERM exits.

Run it with Debian's /usr/bin/python3 (python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-
base/-good/-bad).
"""
import argparse
import signal
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)

STARTED = time.monotonic()

# Set by SIGUSR1, cleared by SIGUSR2: while set, feeders push nothing but keep their sessions open.
stalled = threading.Event()


class Sample:
    __slots__ = ("data", "pts", "dts", "duration", "delta")

    def __init__(self, data, pts, dts, duration, delta):
        self.data, self.pts, self.dts, self.duration, self.delta = data, pts, dts, duration, delta


def load(path):
    """Demuxes a file's first video track into Annex-B access units with their timestamps."""
    pipeline = Gst.parse_launch(
        f'filesrc location="{path}" ! qtdemux name=d d.video_0 ! h264parse config-interval=-1 '
        "! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false"
    )
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    samples = []
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        buf = sample.get_buffer()
        ok, info = buf.map(Gst.MapFlags.READ)
        data = bytes(info.data)
        buf.unmap(info)
        samples.append(Sample(data, buf.pts, buf.dts if buf.dts != Gst.CLOCK_TIME_NONE else buf.pts,
                              buf.duration, bool(buf.get_flags() & Gst.BufferFlags.DELTA_UNIT)))
    pipeline.set_state(Gst.State.NULL)
    if not samples:
        raise SystemExit(f"no H.264 video in {path}")
    return samples


def playlist(paths):
    """Concatenates files into one timeline starting at zero (DTS may precede PTS by a few frames)."""
    out, offset = [], 0
    for path in paths:
        samples = load(path)
        origin = min(s.dts for s in samples)
        pts = sorted(s.pts for s in samples)
        frame = (pts[-1] - pts[0]) // (len(pts) - 1) if len(pts) > 1 else Gst.SECOND // 25
        end = 0
        for s in samples:
            s.pts, s.dts = s.pts - origin + offset, s.dts - origin + offset
            end = max(end, s.pts + (s.duration if s.duration != Gst.CLOCK_TIME_NONE else frame))
            out.append(s)
        offset = end
    return out, offset


class Feeder(threading.Thread):
    """Pushes one session's samples in real time, looping, until the session goes away.

    Like a camera, a mount has one clock that runs whether anyone watches or not: a new session
    joins at the key frame just before "now" in the loop, not at the start of the first file.
    """

    LEAD = 50 * Gst.MSECOND  # push a little ahead of the clock so the payloader never starves

    def __init__(self, media, samples, length):
        super().__init__(daemon=True)
        self.media, self.samples, self.length = media, samples, length
        self.appsrc = media.get_element().get_by_name("src")
        self.stop = threading.Event()
        media.connect("unprepared", lambda *_: self.stop.set())

    def join_point(self):
        position = int((time.monotonic() - STARTED) * Gst.SECOND) % self.length
        keys = [i for i, s in enumerate(self.samples) if not s.delta and s.dts <= position]
        return keys[-1] if keys else 0

    def run(self):
        pipeline = self.media.get_element().get_parent()
        while not self.stop.is_set() and pipeline.get_state(0).state != Gst.State.PLAYING:
            time.sleep(0.01)
        clock = pipeline.get_clock()
        if clock is None:
            return
        base = pipeline.get_base_time()

        def now():
            return clock.get_time() - base

        first = self.join_point()
        # Running time at which the current pass's sample timeline starts.
        origin = now() - self.samples[first].dts
        while not self.stop.is_set():
            for s in self.samples[first:]:
                if self.stop.is_set():
                    return
                while stalled.is_set() and not self.stop.is_set():
                    time.sleep(0.02)
                    # After a stall the stream resumes "now", not with a burst of late frames.
                    origin = now() - s.dts
                wait = (origin + s.dts - self.LEAD) - now()
                if wait > 0:
                    time.sleep(wait / Gst.SECOND)
                buf = Gst.Buffer.new_wrapped(s.data)
                buf.pts, buf.dts = origin + s.pts, origin + s.dts
                if s.delta:
                    buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
                if self.appsrc.emit("push-buffer", buf) != Gst.FlowReturn.OK:
                    return
            first = 0
            origin += self.length


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--mount", action="append", required=True, help="/path=file.mp4[,file2.mp4...]")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", args.user)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password or ""), token)
        server.set_auth(auth)

    for spec in args.mount:
        path, files = spec.split("=", 1)
        samples, length = playlist(files.split(","))
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(
            "( appsrc name=src is-live=true format=time "
            "caps=video/x-h264,stream-format=byte-stream,alignment=au "
            "! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
        )
        factory.set_shared(False)
        if args.user:
            permissions = GstRtspServer.RTSPPermissions()
            permissions.add_permission_for_role(args.user, "media.factory.access", True)
            permissions.add_permission_for_role(args.user, "media.factory.construct", True)
            factory.set_permissions(permissions)
        factory.connect("media-configure",
                        lambda _f, media, s=samples, n=length: Feeder(media, s, n).start())
        server.get_mount_points().add_factory(path, factory)

    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on 127.0.0.1:{args.port}")

    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR1, lambda: stalled.set() or True)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR2, lambda: stalled.clear() or True)
    print("READY", server.get_bound_port(), flush=True)
    loop.run()


if __name__ == "__main__":
    sys.exit(main())
