using System.Diagnostics;
using System.Runtime.InteropServices;
using NUnit.Framework;

namespace Detector.Core.Tests.Sources;

/// <summary>
/// A real RTSP server on 127.0.0.1 (GStreamer's, through rtsp_server.py), started and killed by
/// the tests. Its port is fixed at construction so a restarted server is at the same address,
/// like a camera after a reboot.
/// </summary>
internal sealed partial class RtspServer : IDisposable
{
    private const string Python = "/usr/bin/python3";
    private const int SigUsr1 = 10;
    private const int SigUsr2 = 12;
    private readonly IReadOnlyList<string> _mounts;
    private readonly string? _user;
    private readonly string? _password;
    private Process? _process;

    /// <param name="mounts">"/path=file.mp4[,second.mp4]" each.</param>
    public RtspServer(IReadOnlyList<string> mounts, string? user = null, string? password = null)
    {
        if (!File.Exists(Python))
        {
            Assert.Ignore($"{Python} is missing: install python3-gi and gir1.2-gst-rtsp-server-1.0 (scripts/test-deps.txt).");
        }

        _mounts = mounts;
        _user = user;
        _password = password;
        Port = FreePorts.Tcp();
    }

    public int Port { get; }

    public bool IsRunning => _process is { HasExited: false };

    public string Url(string mount, string? user = null, string? password = null) =>
        user is null ? $"rtsp://127.0.0.1:{Port}{mount}" : $"rtsp://{user}:{password}@127.0.0.1:{Port}{mount}";

    /// <summary>Starts the server and returns once it accepts connections.</summary>
    public void Start()
    {
        if (IsRunning)
        {
            return;
        }

        var info = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Sources", "rtsp_server.py"));
        info.ArgumentList.Add("--port");
        info.ArgumentList.Add(Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var mount in _mounts)
        {
            info.ArgumentList.Add("--mount");
            info.ArgumentList.Add(mount);
        }

        if (_user is not null)
        {
            info.ArgumentList.Add("--user");
            info.ArgumentList.Add(_user);
            info.ArgumentList.Add("--password");
            info.ArgumentList.Add(_password ?? "");
        }

        var process = Process.Start(info)!;
        _process = process;
        var stderr = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (stderr)
                {
                    stderr.AppendLine(e.Data);
                }
            }
        };
        process.BeginErrorReadLine();
        var ready = process.StandardOutput.ReadLineAsync();
        if (!ready.Wait(TimeSpan.FromSeconds(15)) || ready.Result is null || !ready.Result.StartsWith("READY", StringComparison.Ordinal))
        {
            Kill();
            lock (stderr)
            {
                Assert.Fail($"The RTSP server did not start: {stderr}");
            }
        }

        // Keep draining stdout so the server never blocks on a full pipe.
        _ = process.StandardOutput.ReadToEndAsync();
    }

    /// <summary>SIGKILL, like a camera losing power: no RTSP teardown, the TCP connection just closes.</summary>
    public void Kill()
    {
        if (_process is { } process)
        {
            try
            {
                process.Kill();
                process.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }

            process.Dispose();
            _process = null;
        }
    }

    /// <summary>Keeps the sessions open but stops sending frames, like a camera that hangs.</summary>
    public void Stall() => Signal(SigUsr1);

    public void Resume() => Signal(SigUsr2);

    public void Dispose() => Kill();

    private void Signal(int signal)
    {
        var pid = _process?.Id ?? throw new InvalidOperationException("The server is not running.");
        if (SysKill(pid, signal) != 0)
        {
            throw new InvalidOperationException($"kill({pid}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int signal);
}
