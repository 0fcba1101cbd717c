using System.Globalization;
using System.Text.RegularExpressions;

namespace AgentBus.Routing;

/// <summary>
/// Decides whether a project is ML/CV work that belongs on a GPU node. Each term is a whole-word
/// (or whole-phrase) pattern with a weight; the confidence is the noisy-OR of the distinct terms
/// found (1 - product of (1 - weight)), and 0.5 or more routes to GPU.
/// The original system matched the substring "cv" and sent every project with a CVE in its
/// security section to a GPU queue with no consumer. So: no term is a fragment of another word;
/// ambiguous words ("model", "training", "vision", "learning", "transformer", "CV", "detection",
/// "segmentation", "classification") only count inside phrases that make them ML; case carries
/// meaning where it must (LoRA the adapter vs LoRa the radio, BERT vs Bert); a term right after a
/// negation ("no GPU", "without machine learning") is ignored; and a sentence that cites a
/// vulnerability (CVE-..., CVSS, CWE-..., "vulnerability", "exploit") contributes nothing, since a
/// security finding about an NVIDIA driver says nothing about the project's workload.
/// </summary>
public static partial class GpuWorkDetector
{
    public const double Threshold = 0.5;

    private sealed record Term(string Label, string Kind, double Weight, Regex Pattern);

    private static Term T(string label, string kind, double weight, string pattern, bool caseSensitive = false) =>
        new(label, kind, weight, new Regex(pattern,
            RegexOptions.CultureInvariant | RegexOptions.Compiled | (caseSensitive ? RegexOptions.None : RegexOptions.IgnoreCase)));

    private const string Framework = "ML framework";
    private const string Family = "model family";
    private const string Task = "ML/CV task";
    private const string Hardware = "GPU hardware";
    private const string Serving = "model serving";

    private static readonly Term[] Terms =
    [
        // Frameworks and runtimes. Classic tabular ML libraries run on CPUs: weak evidence alone.
        T("PyTorch", Framework, 0.8, @"\b(pytorch|torchvision|torchaudio|libtorch)\b"),
        T("TensorFlow", Framework, 0.8, @"\btensorflow\b"),
        T("Keras", Framework, 0.7, @"\bkeras\b"),
        T("JAX", Framework, 0.7, @"\bJAX\b", caseSensitive: true),
        T("Hugging Face", Framework, 0.7, @"\bhugging\s?face\b"),
        T("Transformers library", Framework, 0.7, @"\b(hugging\s?face\s+)?transformers\s+(library|package)\b"),
        T("Diffusers", Framework, 0.7, @"\bdiffusers\b"),
        T("OpenCV", Framework, 0.7, @"\bopencv\b"),
        T("Detectron2", Framework, 0.8, @"\bdetectron2?\b"),
        T("MMDetection", Framework, 0.8, @"\bmm(detection|segmentation|pose)\b"),
        T("DeepSpeed", Framework, 0.8, @"\b(deepspeed|megatron(-lm)?)\b"),
        T("ONNX", Framework, 0.5, @"\bonnx(\s?runtime)?\b"),
        T("scikit-learn", Framework, 0.25, @"\b(scikit-learn|sklearn)\b"),
        T("gradient boosting library", Framework, 0.25, @"\b(xgboost|lightgbm|catboost)\b"),
        T("spaCy", Framework, 0.25, @"\bspacy\b"),
        T("CUDA", Hardware, 0.85, @"\b(cuda|cudnn|tensorrt)\b"),

        // Model families: names that are also ordinary words need a version, size or capitals.
        T("BERT-family model", Family, 0.7, @"\b(BERT|RoBERTa|DistilBERT|DeBERTa)\b", caseSensitive: true),
        T("GPT-style open model", Family, 0.7, @"\bGPT-?(2|J|Neo(X)?)\b", caseSensitive: true),
        T("Llama model", Family, 0.7, @"\b(LLaMA|Llama[- ]?\d(\.\d)?)\b", caseSensitive: true),
        T("Mistral/Mixtral model", Family, 0.7, @"\b(Mixtral|Mistral[- ]\d+B)\b", caseSensitive: true),
        T("Falcon model", Family, 0.7, @"\bFalcon[- ]\d+B\b", caseSensitive: true),
        T("model size in parameters", Family, 0.6, @"\b\d+(\.\d+)?\s?B[- ]param(eter)?s?\b"),
        T("CNN architecture", Family, 0.7, @"\b(ResNet(-?\d+)?|EfficientNet|MobileNet(V\d)?|VGG-?1[69]|Inception-?v\d|DenseNet)\b", caseSensitive: true),
        T("YOLO", Family, 0.8, @"\bYOLO(v\d+|X)?\b", caseSensitive: true),
        T("Vision Transformer", Family, 0.7, @"\b(ViT|[Vv]ision [Tt]ransformers?)\b", caseSensitive: true),
        T("U-Net", Family, 0.6, @"\bU-?Net\b", caseSensitive: true),
        T("CLIP model", Family, 0.6, @"\b(OpenAI\s+CLIP|CLIP\s+(model|embeddings?|encoder))\b", caseSensitive: true),
        T("Whisper model", Family, 0.7, @"\b(OpenAI\s+Whisper|Whisper\s+(model|ASR)|whisper-(large|medium|small|base|tiny))\b", caseSensitive: true),
        T("Segment Anything", Family, 0.8, @"\bsegment\s+anything\b"),
        T("Stable Diffusion", Family, 0.8, @"\b(stable\s+diffusion|SDXL)\b"),
        T("diffusion model", Family, 0.6, @"\bdiffusion\s+models?\b"),
        T("LoRA fine-tuning", Family, 0.7, @"\bQ?LoRA\b", caseSensitive: true),
        T("GAN", Family, 0.5, @"\b(GANs?|generative\s+adversarial)\b", caseSensitive: true),
        T("recurrent network", Family, 0.6, @"\b(LSTMs?|RNNs?)\b", caseSensitive: true),
        T("convolutional network", Family, 0.7, @"\b(convolutional|CNNs|CNN[- ](models?|based|classifiers?|architectures?))\b"),
        // Not "transformer model": utilities track the models of their electrical transformers.
        T("transformer architecture", Family, 0.6, @"\btransformer(-based|\s+(architectures?|encoders?|decoders?))\b"),

        // ML work: phrases, never the ambiguous word alone.
        T("machine learning", Task, 0.6, @"\bmachine[- ]learning\b"),
        T("deep learning", Task, 0.8, @"\bdeep[- ]learning\b"),
        T("neural network", Task, 0.8, @"\bneural\s+(networks?|nets?)\b"),
        T("reinforcement learning", Task, 0.7, @"\b(reinforcement|transfer|federated|self-supervised)\s+learning\b"),
        T("computer vision", Task, 0.8, @"\b(computer|machine)\s+vision\b"),
        T("CV/ML work", Task, 0.6, @"\b(CV\s+(models?|pipelines?|algorithms?)|CV\s*/\s*ML|ML\s*/\s*CV)\b", caseSensitive: true),
        T("ML", Task, 0.45, @"\bML\b", caseSensitive: true),
        T("ML model or pipeline", Task, 0.7, @"\b(ML\s*(models?|pipelines?|platform|training|inference)|MLOps)\b", caseSensitive: true),
        T("model training", Task, 0.7, @"\b(model\s+training|train(s|ed|ing)?\s+(a|an|the|our|custom|new|its)?\s*(\w+\s+)?models?|(pre-?)?trained\s+(\w+\s+)?(models?|weights|networks?|checkpoints?))\b"),
        T("fine-tuning a model", Task, 0.7, @"\bfine[- ]?tun(e|es|ed|ing)\s+(a|an|the|our|its)?\s*(\w+\s+)?(models?|LLMs?|weights|checkpoints?)\b"),
        T("training data", Task, 0.4, @"\b(training|labell?ed)\s+(data|data\s?sets?|images)\b"),
        T("model inference", Task, 0.6, @"\b(model\s+inference|inference\s+(server|endpoint|service|pipeline|latency|workers?)|(real-time|batch|GPU|local|on-device)\s+inference)\b"),
        // Not "local models": a car dealer lists the local models in stock.
        T("self-hosted model", Serving, 0.7, @"\b((self-hosted|locally\s+hosted|on-prem(ise)?s?|open[- ]weights?)\s+(LLMs?|models?|language\s+models?)|(local|open-source)\s+(LLMs?|language\s+models?))\b"),
        T("LLM", Task, 0.35, @"\b(LLMs?|large\s+language\s+models?)\b"),
        T("inference server", Serving, 0.8, @"\b(vLLM|Triton\s+Inference\s+Server|text-generation-inference|Ollama)\b"),
        T("object detection", Task, 0.8, @"\b(object|face|pedestrian|vehicle)\s+detection\b"),
        T("image classification", Task, 0.7, @"\b(image|video)\s+classification\b"),
        T("image segmentation", Task, 0.8, @"\b(image|semantic|instance|panoptic|video)\s+segmentation\b"),
        T("recognition from images or speech", Task, 0.7, @"\b(image|facial|face|speech|handwriting|license\s+plate|gesture|activity)\s+recognition\b"),
        T("speech models", Task, 0.6, @"\b(speech-to-text|text-to-speech|voice\s+cloning)\b"),
        T("pose estimation", Task, 0.8, @"\b(pose|depth)\s+estimation\b"),
        T("OCR", Task, 0.4, @"\b(OCR|optical\s+character\s+recognition)\b"),
        T("image or video generation", Task, 0.8, @"\b(image|video)\s+(generation|synthesis)\b|\btext-to-(image|video)\b"),
        T("video analytics", Task, 0.7, @"\b(video\s+analytics|visual\s+inspection|visual\s+defect\s+detection)\b"),
        T("NLP", Task, 0.45, @"\b(NLP|natural\s+language\s+processing|named\s+entity\s+recognition)\b"),
        T("text classification", Task, 0.4, @"\b(text|document|intent)\s+classification\b"),
        T("sentiment analysis", Task, 0.3, @"\bsentiment\s+analysis\b"),
        T("embeddings", Task, 0.4, @"\b((vector|text|sentence|image)\s+embeddings?|embedding\s+models?)\b"),
        T("predictive model", Task, 0.25, @"\b(predictive\s+(models?|modell?ing|analytics)|forecasting\s+models?|recommendation\s+(models?|engine)|recommender\s+systems?)\b"),
        T("anomaly detection", Task, 0.2, @"\banomaly\s+detection\b"),

        // Hardware.
        T("GPU", Hardware, 0.85, @"\b(GPUs?|GPU-accelerated|VRAM|tensor\s+cores)\b"),
        T("NVIDIA GPU model", Hardware, 0.8, @"\b(A100|H100|H200|B200|V100|RTX\s?[2-5]0[5-9]0|Jetson)\b", caseSensitive: true),
        // A vendor portal for NVIDIA as a customer is no GPU workload; TPU is also a plastic.
        T("NVIDIA", Hardware, 0.4, @"\bNVIDIA\b"),
    ];

    // Looked for in the few words before a match, within its clause.
    [GeneratedRegex(@"(\b(no|not|without|never|non|nor|neither|avoid(s|ing)?|exclud(e|es|ing))|n't)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Negation();

    [GeneratedRegex(@"\bCVE-\d{4}-\d+|\bCVSS\b|\bCWE-\d+|\bvulnerabilit(y|ies)\b|\bexploit(s|ed|able)?\b|\bsecurity\s+(advisory|bulletin|patch)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SecurityContext();

    // Sentences end at . ! ? before white space, or at a line break.
    [GeneratedRegex(@"(?<=[.!?])\s+|\n", RegexOptions.CultureInvariant)]
    private static partial Regex SentenceBreak();

    // A negation does not reach past these ("no GPU today, but we need PyTorch").
    [GeneratedRegex(@"[;:(]|\s[-–—]\s|\b(but|however|although|though|yet|instead|except)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex ClauseBreak();

    public static GpuDetection Detect(string name, string requirements)
    {
        var found = new Dictionary<string, (Term Term, string Text)>();
        var ignored = new List<string>();
        foreach (var sentence in SentenceBreak().Split($"{name}\n{requirements}"))
        {
            var security = SecurityContext().IsMatch(sentence);
            foreach (var term in Terms)
            {
                foreach (Match m in term.Pattern.Matches(sentence))
                {
                    if (found.ContainsKey(term.Label))
                    {
                        break;
                    }
                    if (security)
                    {
                        ignored.Add($"ignored \"{m.Value}\": the sentence is about a security vulnerability");
                    }
                    else if (IsNegated(sentence, m.Index))
                    {
                        ignored.Add($"ignored \"{m.Value}\": negated (\"{Snippet(sentence, m)}\")");
                    }
                    else
                    {
                        found[term.Label] = (term, m.Value);
                    }
                }
            }
        }

        var evidence = found.Values.OrderByDescending(f => f.Term.Weight).ThenBy(f => f.Term.Label, StringComparer.Ordinal).ToList();
        var confidence = Math.Round(1 - evidence.Aggregate(1.0, (rest, f) => rest * (1 - f.Term.Weight)), 3);
        var reasons = evidence
            .Select(f => string.Create(CultureInfo.InvariantCulture,
                $"{f.Term.Kind}: \"{f.Text}\"{(f.Text.Equals(f.Term.Label, StringComparison.OrdinalIgnoreCase) ? "" : $" ({f.Term.Label})")} +{f.Term.Weight:0.00}"))
            .Concat(ignored.Distinct())
            .ToList();
        return new GpuDetection(confidence >= Threshold, confidence, reasons);
    }

    private static bool IsNegated(string sentence, int at)
    {
        var before = sentence[..at];
        var clauseStart = ClauseBreak().Matches(before) is { Count: > 0 } breaks ? breaks[^1].Index + breaks[^1].Length : 0;
        var words = before[clauseStart..].Split((char[])[' ', '\t', ','], StringSplitOptions.RemoveEmptyEntries);
        return Negation().IsMatch(string.Join(' ', words.TakeLast(4)));
    }

    private static string Snippet(string sentence, Match m)
    {
        var start = Math.Max(0, m.Index - 30);
        return sentence[start..(m.Index + m.Length)].Trim();
    }
}
