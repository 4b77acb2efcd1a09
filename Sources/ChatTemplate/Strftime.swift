import Foundation

/// Python `datetime.strftime` for the directives chat templates use, in the C locale.
enum Strftime {
    private static let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    private static let months = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
        "November", "December",
    ]

    static func format(_ fmt: String, _ date: Date, _ tz: TimeZone) -> String {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = tz
        let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .second, .nanosecond, .weekday], from: date)
        let year = c.year ?? 1970, month = c.month ?? 1, day = c.day ?? 1
        let hour = c.hour ?? 0, minute = c.minute ?? 0, second = c.second ?? 0
        let weekday = (c.weekday ?? 1) - 1  // 0 = Sunday
        let yday = cal.ordinality(of: .day, in: .year, for: date) ?? 1
        func pad(_ v: Int, _ w: Int, _ fill: Character = "0") -> String {
            let s = String(v)
            return String(repeating: fill, count: max(0, w - s.count)) + s
        }
        var out = ""
        var it = Array(fmt.unicodeScalars).makeIterator()
        while let ch = it.next() {
            guard ch == "%" else {
                out.unicodeScalars.append(ch)
                continue
            }
            guard var d = it.next() else {
                out += "%"
                break
            }
            var noPad = false
            if d == "-", let next = it.next() {
                noPad = true
                d = next
            }
            func num(_ v: Int, _ w: Int) -> String { noPad ? String(v) : pad(v, w) }
            switch d {
            case "a": out += String(days[weekday].prefix(3))
            case "A": out += days[weekday]
            case "b", "h": out += String(months[month - 1].prefix(3))
            case "B": out += months[month - 1]
            case "d": out += num(day, 2)
            case "e": out += noPad ? String(day) : pad(day, 2, " ")
            case "m": out += num(month, 2)
            case "y": out += num(year % 100, 2)
            case "Y": out += String(year)
            case "H": out += num(hour, 2)
            case "I": out += num(hour % 12 == 0 ? 12 : hour % 12, 2)
            case "p": out += hour < 12 ? "AM" : "PM"
            case "M": out += num(minute, 2)
            case "S": out += num(second, 2)
            case "f": out += pad((c.nanosecond ?? 0) / 1000, 6)
            case "j": out += num(yday, 3)
            case "w": out += String(weekday)
            case "u": out += String(weekday == 0 ? 7 : weekday)
            case "F": out += "\(year)-\(pad(month, 2))-\(pad(day, 2))"
            case "D", "x": out += "\(pad(month, 2))/\(pad(day, 2))/\(pad(year % 100, 2))"
            case "T", "X": out += "\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2))"
            case "R": out += "\(pad(hour, 2)):\(pad(minute, 2))"
            case "c":
                out += "\(days[weekday].prefix(3)) \(months[month - 1].prefix(3)) \(pad(day, 2, " ")) "
                    + "\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2)) \(year)"
            case "z", "Z": break  // datetime.now() is naive
            case "n": out += "\n"
            case "t": out += "\t"
            case "%": out += "%"
            default:
                out += "%"
                out.unicodeScalars.append(d)
            }
        }
        return out
    }
}
