using Detector.Core.Models;
using Detector.Core.Postprocessing;
using NUnit.Framework;

namespace Detector.Core.Tests.Postprocessing;

[TestFixture]
public class EmptyInputTests
{
    [Test]
    public void Every_decoder_turns_an_empty_output_into_no_candidates([Values(0, 128, 256, 512)] int vectorBits)
    {
        var width = (SimdWidth)vectorBits;
        var dest = new CandidateBuffer();

        YoloV8Decoder.Decode([], 80, 0, 0f, dest, width);
        RowMajorDecoder.Decode([], 0, 80, OutputFamily.YoloV5Decoded, null, 0f, dest, width);
        RawHeadDecoder.DecodeLevel([], [], [], 0, 0, 80, 16, [1f, 1f, 2f, 2f, 3f, 3f], 0f, dest, width);

        Assert.That(dest.Count, Is.Zero);
    }
}
