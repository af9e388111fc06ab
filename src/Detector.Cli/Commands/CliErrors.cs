using Detector.Core.Imaging;
using Detector.Core.Models;
using Detector.Core.Sources;

namespace Detector.Cli.Commands;

/// <summary>Turns the errors a user can cause into one line on stderr and a non-zero exit code; never a stack trace.</summary>
internal static class CliErrors
{
    public const int UsageError = 2;
    public const int InputError = 3;
    public const int RuntimeError = 4;

    public static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is ModelDescriptionException or InvalidImageException or FileNotFoundException
                                      or DirectoryNotFoundException or UnauthorizedAccessException)
        {
            return Fail(e.Message, InputError);
        }
        catch (ArgumentException e)
        {
            return Fail(e.Message, UsageError);
        }
        catch (Exception e)
        {
            return Fail($"{e.GetType().Name}: {e.Message.Split('\n')[0]}", RuntimeError);
        }
    }

    /// <summary>Prints the error with the password of any URL in it masked (a --server or --url typed with credentials).</summary>
    public static int Fail(string message, int code)
    {
        Console.Error.WriteLine($"error: {StreamAddress.MaskUrlsIn(message.ReplaceLineEndings(" "))}");
        return code;
    }
}
