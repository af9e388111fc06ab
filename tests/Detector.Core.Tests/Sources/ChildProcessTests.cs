using System.Diagnostics;
using System.Globalization;
using Detector.Core.Sources;
using NUnit.Framework;

namespace Detector.Core.Tests.Sources;

/// <summary>Decoder processes die with this process, but not with the thread that asked for them.</summary>
public class ChildProcessTests
{
    [Test]
    public async Task A_child_outlives_the_short_lived_thread_that_started_it()
    {
        Assume.That(ChildProcesses.DieWithParent, "setpriv is missing, so there is no parent-death signal to get wrong");
        Process? child = null;
        // The kernel sends the parent-death signal when the forking *thread* exits; a pool thread that retires
        // must not take the decoders it started with it.
        var thread = new Thread(() => child = ChildProcesses.StartAsync("sleep", ["30"]).GetAwaiter().GetResult());
        thread.Start();
        thread.Join();
        try
        {
            await Task.Delay(300);

            Assert.That(child!.HasExited, Is.False);
        }
        finally
        {
            ChildProcesses.Kill(child!, TimeSpan.FromSeconds(5));
            child!.Dispose();
        }
    }

    [Test]
    public void A_child_started_this_way_is_killed_when_its_parent_is_killed()
    {
        Assume.That(ChildProcesses.DieWithParent, "setpriv is missing");
        Assume.That(File.Exists("/usr/bin/python3"), "a stand-in parent is needed");
        // A stand-in parent (this test cannot kill its own process) starts `sleep` with the same prefix and is
        // then SIGKILLed, as a crashed server would be.
        var script = "import subprocess, sys, time\n"
            + $"p = subprocess.Popen({ToPython([.. ChildProcesses.ParentDeathPrefix, "sleep", "30"])})\n"
            + "print(p.pid, flush=True)\ntime.sleep(30)\n";
        var info = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(script);
        using var parent = Process.Start(info)!;
        var grandchild = int.Parse(parent.StandardOutput.ReadLine()!, CultureInfo.InvariantCulture);
        try
        {
            // setpriv arms the signal just before it execs the program; a parent killed earlier than that leaves an
            // ordinary orphan. Wait for the exec, as any real decoder is long past it.
            WaitUntil(() => Comm(grandchild) == "sleep");

            parent.Kill();
            parent.WaitForExit();
            WaitUntil(() => !IsAlive(grandchild));

            Assert.That(IsAlive(grandchild), Is.False, "the child died with its parent");
        }
        finally
        {
            if (IsAlive(grandchild))
            {
                Process.GetProcessById(grandchild).Kill();
            }
        }
    }

    private static void WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (!condition() && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(10);
        }
    }

    private static string? Comm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (IOException)
        {
            return null;
        }
    }

    // A killed orphan is re-parented to init, which may be slow to reap it; a zombie counts as dead.
    private static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static string ToPython(IEnumerable<string> args) => "[" + string.Join(", ", args.Select(a => $"'{a}'")) + "]";
}
