using System.CommandLine;
using Detector.Cli.Commands;

var root = new RootCommand("Detector: real-time object detection for video streams (command-line client).")
{
    DetectCommand.Create(),
    WatchCommand.Create(),
    StreamsCommand.Create(),
    AnnotateCommand.Create(),
};

return root.Parse(args).Invoke();
