import Foundation

extension ScalingBenchmark {
    /// The CPU model as /proc/cpuinfo names it ("unknown" elsewhere).
    public static var cpuModel: String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":") else { return "unknown" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }

    /// An SVG chart of tokens/s (bars, left axis) and parallel efficiency (line, right axis)
    /// against workers, one panel per config, so a results file can be looked at, not only read.
    public static func svgPlot(_ rows: [Row], title: String) -> String {
        let configs = rows.map(\.config).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let panelWidth = 320.0, panelHeight = 220.0, margin = 50.0
        let width = margin + Double(configs.count) * (panelWidth + margin), height = panelHeight + 2 * margin + 20
        // Attributes in single quotes, so the markup needs no escaping inside Swift strings.
        var svg = ["<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(width))' height='\(Int(height))' font-family='sans-serif' font-size='11'>",
                   "<rect width='100%' height='100%' fill='white'/>",
                   "<text x='\(margin)' y='20' font-size='13'>\(escape(title))</text>"]
        for (index, config) in configs.enumerated() {
            let panel = rows.filter { $0.config == config }
            let left = margin + Double(index) * (panelWidth + margin), top = margin, bottom = top + panelHeight
            let most = max(panel.map(\.tokensPerSecond).max() ?? 1, 1)
            let slot = panelWidth / Double(max(panel.count, 1))
            svg.append("<text x='\(left)' y='\(top - 8)' font-size='12'>\(escape(config)): tokens/s (bars), parallel efficiency (line)</text>")
            svg.append("<line x1='\(left)' y1='\(bottom)' x2='\(left + panelWidth)' y2='\(bottom)' stroke='black'/>")
            svg.append("<line x1='\(left)' y1='\(top)' x2='\(left)' y2='\(bottom)' stroke='black'/>")
            var points: [String] = []
            for (i, row) in panel.enumerated() {
                let x = left + slot * (Double(i) + 0.5)
                // Bars stop at 85% of the panel so their labels stay clear of the title.
                let barHeight = 0.85 * panelHeight * row.tokensPerSecond / most
                svg.append("<rect x='\(x - slot * 0.3)' y='\(bottom - barHeight)' width='\(slot * 0.6)' height='\(barHeight)' fill='#7aa6d8'/>")
                svg.append("<text x='\(x)' y='\(bottom - barHeight - 4)' text-anchor='middle'>\(Int(row.tokensPerSecond.rounded()))</text>")
                svg.append("<text x='\(x)' y='\(bottom + 14)' text-anchor='middle'>\(row.workers) worker\(row.workers == 1 ? "" : "s")</text>")
                let y = bottom - panelHeight * min(row.parallelEfficiency, 1.2) / 1.2
                points.append("\(x),\(y)")
                svg.append("<circle cx='\(x)' cy='\(y)' r='3' fill='#c0392b'/>")
                // Below the point: near 100% the point sits just under the tallest bar's label.
                svg.append("<text x='\(x + 6)' y='\(y + 14)' fill='#c0392b'>\(String(format: "%.1f%%", 100 * row.parallelEfficiency))</text>")
            }
            svg.append("<polyline points='\(points.joined(separator: " "))' fill='none' stroke='#c0392b' stroke-width='2'/>")
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: "'", with: "&apos;")
    }
}
