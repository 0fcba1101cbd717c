using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Components;

namespace AgentBus.Web.Components.Shared;

/// <summary>Written as markup here: Razor reserves the SVG &lt;text&gt; element's name. Every label is HTML-encoded.</summary>
public partial class BarChart
{
    private const int RowHeight = 28;
    private const double BarSpace = 380;

    [Parameter, EditorRequired] public string Label { get; set; } = "";
    [Parameter, EditorRequired] public IReadOnlyList<(string Name, double Value)> Bars { get; set; } = [];
    [Parameter] public string Unit { get; set; } = "";

    private MarkupString Svg()
    {
        static string N(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);
        static string Amount(double v) => v.ToString("#,0", CultureInfo.InvariantCulture);
        var html = HtmlEncoder.Default;
        var max = Bars.Max(b => b.Value);
        var summary = $"{Label}: {string.Join(", ", Bars.Select(b => $"{b.Name} {Amount(b.Value)} {Unit}"))}";
        var svg = new StringBuilder();
        svg.Append($"<svg class=\"chart\" role=\"img\" aria-label=\"{html.Encode(summary)}\" viewBox=\"0 0 640 {Bars.Count * RowHeight + 8}\" width=\"100%\">");
        for (var i = 0; i < Bars.Count; i++)
        {
            var (name, value) = Bars[i];
            var width = max <= 0 ? 0 : value / max * BarSpace;
            var y = i * RowHeight + 4;
            svg.Append($"<text x=\"0\" y=\"{y + 15}\" class=\"chart-label\">{html.Encode(name)}</text>");
            svg.Append($"<rect x=\"160\" y=\"{y}\" width=\"{N(width)}\" height=\"20\" class=\"chart-bar\"></rect>");
            svg.Append($"<text x=\"{N(166 + width)}\" y=\"{y + 15}\" class=\"chart-value\">{Amount(value)}</text>");
        }
        svg.Append("</svg>");
        return new MarkupString(svg.ToString());
    }
}
