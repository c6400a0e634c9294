import Foundation

/// The goodput section of the HTML report: one stacked bar of the wall time, productive first, then
/// each cause of loss, with a legend that gives every part's time and share.
extension HTMLReport {
    static let goodputColors: [String: String] = [
        "productive": "var(--success)", "start-up": "#8ab4f8", "redone": "var(--recoverable)",
        "lost": "var(--unrecoverable)", "backoff": "var(--ignore)", "stopping": "#a142f4", "GPU wait": "#f28b82",
        "vigil": "#5f6368",
    ]

    static func goodput(_ page: inout Page, _ goodput: Goodput) {
        guard goodput.wallSeconds > 0 else { return }
        let parts = [("productive", goodput.productiveSeconds)] + goodput.losses
        page.raw("<section>\n<h2>Goodput</h2>\n<p>")
        page.plain(
            "\(Int((goodput.ratio * 100).rounded()))% of \(DurationFormat.string(from: goodput.wallSeconds)) "
                + "produced training that was kept.")
        page.raw("</p>\n<svg class=\"goodput\" viewBox=\"0 0 \(Layout.width) 28\" role=\"img\">\n")
        var x = 0.0
        let width = Double(Layout.width)
        for (name, seconds) in parts where seconds > 0 {
            let w = width * seconds / goodput.wallSeconds
            page.raw(
                "<rect x=\"\(Page.number(x))\" y=\"2\" width=\"\(Page.number(w))\" height=\"24\" "
                    + "data-part=\"\(Page.escape(name))\" style=\"fill: \(goodputColors[name] ?? "#999")\"><title>")
            page.plain("\(name): \(DurationFormat.string(from: seconds))")
            page.raw("</title></rect>\n")
            x += w
        }
        page.raw("</svg>\n<p class=\"legend\">")
        for (name, seconds) in parts where seconds >= 0.5 {
            page.raw("<span class=\"key\" style=\"background: \(goodputColors[name] ?? "#999")\"></span>")
            let share = Int((seconds / goodput.wallSeconds * 100).rounded())
            page.plain("\(name) \(DurationFormat.string(from: seconds)) (\(share)%)  ")
        }
        page.raw("</p>\n</section>\n")
    }
}
