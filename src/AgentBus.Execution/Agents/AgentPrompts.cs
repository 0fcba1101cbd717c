using System.Text;
using AgentBus.Jobs;
using Microsoft.Extensions.AI;

namespace AgentBus.Agents;

/// <summary>
/// What each agent is asked. Inputs travel in XML-like tags (requirements, artifact, notes,
/// similar_prd) so any model, and the offline writer, can tell them apart.
/// </summary>
public static class AgentPrompts
{
    private const string Common = """
        You are part of Agent Bus, a team of agents that turns a customer's requirements into the
        deliverables a software team needs. Write for engineers and product people: concrete,
        specific to this project, no filler. Refer to requirements by their ids (FR-1, NFR-1, ...)
        from the PRD. Never invent facts the inputs contradict; state assumptions explicitly.
        """;

    private static readonly Dictionary<string, string> Instructions = new()
    {
        ["prd_agent"] = """
            Write the Product Requirements Document in Markdown with exactly these sections:
            # <project name>: Product Requirements Document
            ## Problem  ## Users  ## Goals  ## Scope (In scope / Out of scope)
            ## Requirements (functional as "FR-n: ...", non-functional as "NFR-n: ...")
            ## Acceptance criteria (Given/When/Then, one or more per FR)  ## Risks (risk, impact, mitigation)
            Use similar earlier PRDs only as inspiration for structure and risks. When reviewer
            notes are given, revise the previous PRD to address every note and list the changes
            under "## Changes in this version".
            """,
        ["plan_agent"] = """
            Write the delivery plan as a single JSON object, no prose around it:
            {"milestones":[{"id":"M1","name":"...","goal":"...","tasks":[{"id":"T1","title":"...",
            "requirements":["FR-1"],"estimate_days":2,"depends_on":[]}]}],"assumptions":["..."]}.
            Every FR of the PRD is covered by at least one task.
            """,
        ["architect_agent"] = """
            Write the architecture in Markdown: ## Overview, ## Components (responsibility, interfaces),
            ## Data model (entities, key fields), ## APIs, ## Deployment, ## Decisions (ADR style:
            decision, alternatives, why). Map every component to the FRs it serves.
            """,
        ["uiux_agent"] = """
            Write the UI/UX specification in Markdown: ## Personas and journeys, ## Screens (purpose,
            main elements, states: empty/loading/error), ## Navigation, ## Accessibility (WCAG 2.2 AA).
            """,
        ["developer_agent"] = """
            Write the development guide in Markdown: ## Modules (per component: files, responsibilities),
            ## API endpoints (method, path, request, response, errors), ## Implementation order (by plan
            task ids), ## Coding standards and definition of done.
            """,
        ["qa_agent"] = """
            Write the QA plan in Markdown: ## Strategy, ## Test cases (id, FR, steps, expected result),
            ## Non-functional tests (per NFR), ## Exit criteria.
            """,
        ["security_agent"] = """
            Write the security review in Markdown: ## Assets and trust boundaries, ## Threats (STRIDE per
            component, likelihood, impact), ## Controls required, ## Security test cases, ## Compliance notes.
            """,
        ["tech_writer"] = """
            Write the user and operator documentation in Markdown: ## Overview, ## Getting started,
            ## Features (one section per FR group), ## Administration, ## Reference.
            """,
        ["support_engineer"] = """
            Write the support documentation in Markdown: ## FAQ, ## Troubleshooting (symptom, cause, fix),
            ## Escalation paths, ## Known limitations.
            """,
        ["product_manager"] = """
            Write the product review in Markdown: ## Verdict (ready / ready with conditions / not ready),
            ## Requirement coverage (a table: FR, plan, architecture, QA, docs), ## Gaps and risks,
            ## Launch checklist.
            """,
    };

    public static bool UsesModel(string agentType) => Instructions.ContainsKey(agentType);

    public static IList<ChatMessage> Build(StageWork work, IReadOnlyList<string> similarPrds)
    {
        var system = $"{Common}\n\nYou are the {work.Stage.AgentType}.\n{Instructions[work.Stage.AgentType]}";
        var user = new StringBuilder();
        user.Append("<project name=\"").Append(Escape(work.Project.Name)).Append("\">\n");
        user.Append("<requirements>\n").Append(work.Project.Requirements).Append("\n</requirements>\n");
        foreach (var type in work.Stage.Inputs)
        {
            if (work.Inputs.TryGetValue(type, out var artifact))
            {
                user.Append($"<artifact type=\"{type}\" version=\"{artifact.Version}\">\n").Append(artifact.Content).Append("\n</artifact>\n");
            }
        }
        foreach (var prd in similarPrds)
        {
            user.Append("<similar_prd>\n").Append(prd).Append("\n</similar_prd>\n");
        }
        if (work.PreviousVersion is { } previous)
        {
            user.Append($"<previous_version version=\"{previous.Version}\">\n").Append(previous.Content).Append("\n</previous_version>\n");
        }
        if (!string.IsNullOrWhiteSpace(work.Notes))
        {
            user.Append("<reviewer_notes>\n").Append(work.Notes).Append("\n</reviewer_notes>\n");
        }
        user.Append("</project>\nWrite the ").Append(work.Stage.Name).Append(" deliverable now.");
        return [new ChatMessage(ChatRole.System, system), new ChatMessage(ChatRole.User, user.ToString())];
    }

    private static string Escape(string value) => value.Replace("\"", "&quot;", StringComparison.Ordinal);
}
