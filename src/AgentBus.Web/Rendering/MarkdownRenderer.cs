using Ganss.Xss;
using Markdig;
using Microsoft.AspNetCore.Components;

namespace AgentBus.Web.Rendering;

/// <summary>
/// Markdown from untrusted hands (requirements, notes, model output) as safe HTML: Markdig with
/// raw HTML disabled (a &lt;script&gt; in the text stays text), then HtmlSanitizer over the result
/// as a second wall, and every link marked rel="noopener noreferrer nofollow".
/// </summary>
public sealed class MarkdownRenderer
{
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder()
        .DisableHtml()
        .UsePipeTables()
        .UseTaskLists()
        .UseAutoLinks()
        .Build();

    private readonly HtmlSanitizer _sanitizer;

    public MarkdownRenderer()
    {
        _sanitizer = new HtmlSanitizer();
        _sanitizer.AllowedSchemes.Clear();
        _sanitizer.AllowedSchemes.UnionWith(["http", "https", "mailto"]);
        _sanitizer.AllowedAttributes.Add("rel");
        _sanitizer.PostProcessNode += (_, e) =>
        {
            if (e.Node is AngleSharp.Dom.IElement { TagName: "A" } link)
            {
                link.SetAttribute("rel", "noopener noreferrer nofollow");
                link.SetAttribute("target", "_blank");
            }
        };
    }

    public MarkupString Render(string? markdown) =>
        new(_sanitizer.Sanitize(Markdown.ToHtml(markdown ?? "", Pipeline)));
}
