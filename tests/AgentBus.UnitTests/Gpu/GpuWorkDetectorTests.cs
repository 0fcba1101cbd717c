using AgentBus.Routing;

namespace AgentBus.UnitTests.Gpu;

/// <summary>The ML/CV detector on real-looking requirements, above all the ones that must not go to a GPU.</summary>
public sealed class GpuWorkDetectorTests
{
    public static TheoryData<string, string> GpuProjects => new()
    {
        { "PCB defect inspection", "Train a YOLOv8 object detection model on 20,000 labelled images of circuit boards and serve it for real-time inference on the production line." },
        { "Ticket triage", "Fine-tune a BERT model with PyTorch to classify support tickets by intent. Retrain it monthly." },
        { "Shelf monitoring", "Use computer vision on store camera images: semantic segmentation finds empty shelf space and alerts staff." },
        { "Internal assistant", "Run Llama 3 70B on our own H100 servers with vLLM so that documents never leave the building." },
        { "Call analytics", "Transcribe call recordings with the OpenAI Whisper model and flag complaints." },
        { "Product shots", "Generate lifestyle product images with Stable Diffusion XL from a single packshot." },
        { "Gait analysis", "Physiotherapists upload videos; pose estimation with a neural network scores each exercise." },
        { "Recommendations", "Recommend articles using deep learning on reading history; the model is retrained nightly on GPUs." },
    };

    public static TheoryData<string, string> CpuProjects => new()
    {
        // The original system's failure: "cv" inside CVE/CVSS sent every such project to a GPU queue.
        { "Customer portal", "Customers view invoices and pay online. Security: the release is blocked by any dependency with a CVE rated CVSS 7.0 or higher; CVE-2024-3094 (CVSS 10.0) in xz-utils must be patched. Track CVEs in a weekly report with CVSS vectors." },
        { "NVIDIA driver patching", "Kiosks show opening hours. Patch CVE-2024-0090 in the NVIDIA GPU display driver on every kiosk before launch." },
        { "Recruiting", "Candidates upload their CV as a PDF. Recruiters search CVs by skill and move candidates through interview stages." },
        { "Order management", "Design the data model for orders and returns. The pricing model supports volume discounts. Write a threat model (STRIDE) and plan staff training sessions." },
        { "Learning platform", "An e-learning site: a learning management system with courses, quizzes and certificates. Our vision statement is on the home page." },
        { "Grid assets", "Field crews record the transformer models and serial numbers at each substation; the dashboard shows load on transformers." },
        { "Farm sensors", "LoRa and LoRaWAN soil sensors report moisture every hour to a web dashboard." },
        { "Booking site", "A simple booking site for a hair salon. No machine learning and no GPU are needed; it must run on the cheapest plan." },
        { "SOC tooling", "Intrusion detection alerts, fraud detection rules, network segmentation and data classification policies for the security team." },
        { "Car dealer", "Show the local models in stock, book test drives and compare the models of each brand." },
        { "Rail timetable", "Passengers see train schedules and platform changes; the model railway club gets its own page." },
        { "Linter", "A TypeScript linter with type inference and autofix for imports." },
        { "News digest", "Aggregate headlines from CNN and the BBC into a morning email." },
        { "Telehealth", SampleRequirements.Clinic },
    };

    [Theory]
    [MemberData(nameof(GpuProjects))]
    public void Ml_and_cv_projects_go_to_gpu(string name, string requirements)
    {
        var detection = GpuWorkDetector.Detect(name, requirements);

        Assert.True(detection.RequiresGpu, $"{name}: {detection.Confidence} {string.Join(" | ", detection.Reasons)}");
        Assert.InRange(detection.Confidence, GpuWorkDetector.Threshold, 1);
        Assert.NotEmpty(detection.Reasons);
    }

    [Theory]
    [MemberData(nameof(CpuProjects))]
    public void Security_vocabulary_and_ordinary_words_stay_on_cpu(string name, string requirements)
    {
        var detection = GpuWorkDetector.Detect(name, requirements);

        Assert.False(detection.RequiresGpu, $"{name}: {detection.Confidence} {string.Join(" | ", detection.Reasons)}");
        Assert.True(detection.Confidence < GpuWorkDetector.Threshold);
    }

    [Fact]
    public void Confidence_combines_the_weights_of_distinct_terms_and_the_reasons_name_them()
    {
        var one = GpuWorkDetector.Detect("Vision", "Prototype in PyTorch.");
        Assert.Equal(0.8, one.Confidence);
        Assert.Equal(["ML framework: \"PyTorch\" +0.80"], one.Reasons);

        // 1 - (1 - 0.8) * (1 - 0.6): a second term raises confidence; repeating one does not.
        var two = GpuWorkDetector.Detect("Vision", "Prototype in PyTorch, then PyTorch again, using machine learning.");
        Assert.Equal(0.92, two.Confidence);
        Assert.Equal(2, two.Reasons.Count);
    }

    [Fact]
    public void Weak_evidence_alone_does_not_route_to_gpu()
    {
        var detection = GpuWorkDetector.Detect("Churn", "Score customers with scikit-learn and show sentiment analysis of reviews.");

        Assert.False(detection.RequiresGpu);
        Assert.Equal(Math.Round(1 - 0.75 * 0.7, 3), detection.Confidence);
    }

    [Fact]
    public void Ignored_mentions_are_explained()
    {
        var detection = GpuWorkDetector.Detect("Salon", "No GPU is needed. Patch CVE-2024-0090 in the NVIDIA driver.");

        Assert.Equal(0, detection.Confidence);
        Assert.Contains(detection.Reasons, r => r.StartsWith("ignored \"GPU\": negated", StringComparison.Ordinal));
        Assert.Contains(detection.Reasons, r => r.StartsWith("ignored \"NVIDIA\": the sentence is about a security vulnerability", StringComparison.Ordinal));
    }

    [Fact]
    public void A_negation_stops_at_but()
    {
        var detection = GpuWorkDetector.Detect("Mixed", "We have no data scientists, but we need a PyTorch model served.");

        Assert.True(detection.RequiresGpu);
    }

    [Fact]
    public void Requires_gpu_overrides_the_detector_both_ways_and_says_so()
    {
        var forcedOff = JobRouter.Decide("Ticket triage", "Fine-tune a BERT model with PyTorch.", requiresGpu: false);
        Assert.False(forcedOff.RequiresGpu);
        Assert.True(forcedOff.Confidence >= GpuWorkDetector.Threshold, "the detector's own confidence is kept");
        Assert.StartsWith("requires_gpu=false was set on the project", forcedOff.Reasons[0], StringComparison.Ordinal);

        var forcedOn = JobRouter.Decide("Customer portal", "Customers pay invoices online.", requiresGpu: true);
        Assert.True(forcedOn.RequiresGpu);
        Assert.Equal(0, forcedOn.Confidence);
        Assert.StartsWith("requires_gpu=true was set on the project", forcedOn.Reasons[0], StringComparison.Ordinal);

        var detected = GpuWorkDetector.Detect("Ticket triage", "Fine-tune a BERT model with PyTorch.");
        var undecided = JobRouter.Decide("Ticket triage", "Fine-tune a BERT model with PyTorch.", requiresGpu: null);
        Assert.Equal((detected.RequiresGpu, detected.Confidence), (undecided.RequiresGpu, undecided.Confidence));
        Assert.Equal(detected.Reasons, undecided.Reasons);
        Assert.True(undecided.RequiresGpu);
    }
}
