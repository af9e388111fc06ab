using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace Detector.Core.Sources;

/// <summary>
/// Starts decoder processes so that none outlives this one.
/// <list type="bullet">
/// <item>On Linux each child goes through util-linux's <c>setpriv --pdeathsig KILL</c>, so the kernel kills it when
/// its parent dies, even by SIGKILL or a crash. The kernel ties that signal to the <em>thread</em> that forked the
/// child, so all children are forked from one dedicated thread that lives as long as the process, never from a
/// pool thread that may retire.</item>
/// <item>Every live child is killed on <see cref="AppDomain.ProcessExit"/>.</item>
/// <item>Owners kill the process tree on dispose and wait for the exit, so nothing is left as a zombie.</item>
/// </list>
/// </summary>
internal static class ChildProcesses
{
    private static readonly BlockingCollection<(ProcessStartInfo Info, string? Input, TaskCompletionSource<Process> Result)> Requests = [];
    private static readonly ConcurrentDictionary<int, Process> Live = new();
    private static readonly string? Setpriv = FindSetpriv();

    static ChildProcesses()
    {
        var launcher = new Thread(Launch) { IsBackground = true, Name = "Detector child-process launcher" };
        launcher.Start();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
    }

    /// <summary>True when children die with this process even if it is killed (setpriv is available).</summary>
    public static bool DieWithParent => Setpriv is not null;

    /// <summary>The command prefix that ties a child's life to this process; empty where setpriv is missing.</summary>
    public static IReadOnlyList<string> ParentDeathPrefix => Setpriv is null ? [] : [Setpriv, "--pdeathsig", "KILL", "--"];

    /// <summary>Number of children started here that have not been reaped.</summary>
    public static int LiveCount => Live.Count;

    /// <summary>
    /// Starts <paramref name="fileName"/> with stdout and stderr redirected. <paramref name="standardInput"/>, when
    /// given, is written to its stdin, which is then closed (small texts only: it must fit the pipe's buffer). Throws
    /// <see cref="Win32Exception"/> when the program cannot be found or run.
    /// </summary>
    public static Task<Process> StartAsync(string fileName, IReadOnlyList<string> arguments, string? standardInput = null)
    {
        var info = new ProcessStartInfo
        {
            FileName = Setpriv ?? fileName,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = standardInput is not null,
            StandardInputEncoding = standardInput is null ? null : new UTF8Encoding(encoderShouldEmitUTF8Identifier: false),
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        if (Setpriv is not null)
        {
            // setpriv execs the program in place (same pid), after setting the parent-death signal.
            info.ArgumentList.Add("--pdeathsig");
            info.ArgumentList.Add("KILL");
            info.ArgumentList.Add("--");
            info.ArgumentList.Add(fileName);
        }

        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        if (Setpriv is not null && !CanExecute(fileName))
        {
            // setpriv would start and then fail to exec; report "not found" like a direct start would.
            return Task.FromException<Process>(new Win32Exception(2, $"'{fileName}' was not found on PATH."));
        }

        var result = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        Requests.Add((info, standardInput, result));
        return result.Task;
    }

    /// <summary>Kills <paramref name="process"/> and its children, waits for it to be reaped, and forgets it.</summary>
    public static void Kill(Process process, TimeSpan wait)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or Win32Exception or NotSupportedException)
        {
            // Already gone, or exiting right now: either way there is nothing left to kill.
        }

        try
        {
            // SIGKILL cannot be ignored; a process still not reaped after this is stuck in the kernel (D state) and
            // goes when its I/O does.
            process.WaitForExit(wait);
        }
        catch (InvalidOperationException)
        {
            // Never started properly; nothing to wait for.
        }

        Forget(process);
    }

    public static void Forget(Process process)
    {
        try
        {
            Live.TryRemove(process.Id, out _);
        }
        catch (InvalidOperationException)
        {
            // No id: it never ran.
        }
    }

    private static void Launch()
    {
        foreach (var (info, input, result) in Requests.GetConsumingEnumerable())
        {
            try
            {
                var process = new Process { StartInfo = info };
                process.Start();
                Live[process.Id] = process;
                if (input is not null)
                {
                    WriteAndClose(process.StandardInput, input);
                }

                result.SetResult(process);
            }
            catch (Exception ex)
            {
                result.SetException(ex);
            }
        }
    }

    private static void WriteAndClose(StreamWriter stdin, string input)
    {
        try
        {
            stdin.Write(input);
            stdin.Close();
        }
        catch (IOException)
        {
            // The child exited before reading (a broken pipe): its exit and its stderr say why, to whoever reads them.
        }
    }

    private static void KillAll()
    {
        foreach (var process in Live.Values)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (Exception ex) when (ex is InvalidOperationException or Win32Exception or NotSupportedException)
            {
                // Exited between the listing and the kill.
            }
        }
    }

    private static string? FindSetpriv()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        return new[] { "/usr/bin/setpriv", "/bin/setpriv" }.FirstOrDefault(File.Exists);
    }

    private static bool CanExecute(string fileName)
    {
        if (fileName.Contains('/'))
        {
            return File.Exists(fileName);
        }

        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries).Any(dir => File.Exists(Path.Combine(dir, fileName)));
    }
}
