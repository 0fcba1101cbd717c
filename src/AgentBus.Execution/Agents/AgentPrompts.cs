using AgentBus.Jobs;
using AgentBus.Requirements;

namespace AgentBus.Agents;

/// <summary>
/// What each agent is asked. Inputs travel in XML-like tags (requirements, artifact, notes,
/// similar_prd) so any model, and the offline writer, can tell them apart; the agent's own
/// instructions come last, after the inputs every stage shares.
/// </summary>
public static class AgentPrompts
{
    private const string Common = """
        You are part of Agent Bus, a team of agents that turns a customer's requirements into the
        deliverables a software team needs. Write for engineers and product people: concrete,
        specific to this project, no filler. The customer's requirements are numbered sentences
        ([S1], [S2], ...). Refer to requirements by their PRD ids (FR-1, NFR-1, ...) wherever a
        deliverable serves, designs, tests or documents one. Never invent facts the inputs
        contradict; state assumptions explicitly. Your instructions follow the project's inputs.
        """;

    private static readonly Dictionary<string, string> Instructions = new()
    {
        ["prd_agent"] = """
            Write the Product Requirements Document in Markdown with exactly these sections:
            # <project name>: Product Requirements Document
            ## Problem  ## Users  ## Goals  ## Scope (In scope / Out of scope)
            ## Requirements: functional as "- FR-n: ... (S1)", non-functional as "- NFR-n: ... (S2)",
            each citing the requirement sentences it comes from. Every sentence [Sn] is cited by at
            least one FR or NFR, or is listed under "## Not requirements" as "- Sn: <why it is not
            a requirement>" (context, a duplicate, out of scope). Never drop a sentence silently.
            ## Acceptance criteria (Given/When/Then, one or more per FR)  ## Risks (risk, impact, mitigation)
            Use similar earlier PRDs only as inspiration for structure and risks. When reviewer
            notes are given, revise the previous PRD to address every note and list the changes
            under "## Changes in this version".
            """,
        ["plan_agent"] = """
            Answer with the delivery plan as one JSON object in the response format you are given:
            milestones of tasks, each task with the PRD requirement ids it delivers. Every FR of
            the PRD is in at least one task's requirements; task ids are unique; depends_on names
            earlier tasks only.
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
            ## Requirement coverage (Agent Bus replaces this section with a table computed from the
            FR ids each deliverable cites: judge gaps from the deliverables themselves), ## Gaps and
            risks, ## Launch checklist.
            """,
    };

    public static bool UsesModel(string agentType) => Instructions.ContainsKey(agentType);

    /// <summary>
    /// The stage's prompt. The system text and the first block (project, numbered requirements,
    /// the PRD) are the same for every stage of a job, so providers can cache them: the block
    /// carries an Anthropic cache breakpoint, and OpenAI caches a repeated prefix by itself.
    /// </summary>
    public static AgentPrompt Build(StageWork work, IReadOnlyList<string> similarPrds) => new(
        Common,
        work.Project.Name,
        Traceability.Numbered(work.Project.Requirements),
        work.Stage.Inputs.Contains(Pipeline.Prd) && work.Inputs.TryGetValue(Pipeline.Prd, out var prd) ? new PromptArtifact(prd.Type, prd.Version, prd.Content) : null,
        [.. work.Stage.Inputs.Where(t => t != Pipeline.Prd && work.Inputs.ContainsKey(t)).Select(t => new PromptArtifact(t, work.Inputs[t].Version, work.Inputs[t].Content))],
        similarPrds,
        work.PreviousVersion is { } previous ? new PromptArtifact(previous.Type, previous.Version, previous.Content) : null,
        string.IsNullOrWhiteSpace(work.Notes) ? null : work.Notes,
        $"You are the {work.Stage.AgentType}.\n<instructions>\n{Instructions[work.Stage.AgentType]}\n</instructions>\nWrite the {work.Stage.Name} deliverable now.");
}
