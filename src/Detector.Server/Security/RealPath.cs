namespace Detector.Server.Security;

/// <summary>
/// A path with every symbolic link along it resolved, like realpath(3), so that a link inside an allowed folder that
/// points outside it is judged by where it leads. The part of the path that does not exist yet is kept as written.
/// </summary>
public static class RealPath
{
    // As Linux's SYMLOOP_MAX: more links than this in one path is a loop.
    private const int MaxLinks = 40;

    /// <exception cref="IOException">The path holds a loop of symbolic links.</exception>
    public static string Resolve(string path)
    {
        var pending = new Stack<string>(Components(Path.GetFullPath(path)).Reverse());
        var current = Path.GetPathRoot(Path.GetFullPath(path)) ?? "/";
        var links = 0;
        while (pending.TryPop(out var part))
        {
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? current;
                continue;
            }

            var next = Path.Combine(current, part);
            if (new FileInfo(next).LinkTarget is not { } target)
            {
                current = next;
                continue;
            }

            if (++links > MaxLinks)
            {
                throw new IOException($"Too many symbolic links in '{path}' (a loop?).");
            }

            // The target's own components go first; a relative target starts from the link's folder, and may hold
            // ".." which counts from wherever its links have led, as the kernel does.
            foreach (var component in Components(target).Reverse())
            {
                pending.Push(component);
            }

            if (Path.IsPathRooted(target))
            {
                current = Path.GetPathRoot(target) ?? "/";
            }
        }

        return current;
    }

    private static IEnumerable<string> Components(string path) =>
        path.Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries).Where(c => c != ".");
}
