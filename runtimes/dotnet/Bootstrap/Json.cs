using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Reflection;
using System.Text;
using Amazon.Lambda.Core;

namespace Kumo.Runtime
{
    /// <summary>Thrown when the event or the result cannot be converted (errorType "JsonSerializerException").</summary>
    public sealed class JsonSerializerException : Exception
    {
        public JsonSerializerException(string message, Exception inner) : base(message, inner) { }
    }

    /// <summary>
    /// The serializer for handlers whose assembly or method names no [LambdaSerializer]. It follows the
    /// conventions of the default serializer of .NET on Lambda (System.Text.Json): public properties
    /// under their declared names, case-insensitive on input, ISO 8601 dates, enums as numbers.
    /// </summary>
    public sealed class DefaultSerializer : ILambdaSerializer
    {
        public T Deserialize<T>(Stream requestStream)
        {
            string text = new StreamReader(requestStream, Encoding.UTF8).ReadToEnd();
            try
            {
                return (T)Json.Convert(Json.Parse(text), typeof(T), 0);
            }
            catch (Exception e)
            {
                throw new JsonSerializerException(
                    "Error converting the Lambda event JSON payload to type " + Json.TypeName(typeof(T)) + ": " + e.Message, e);
            }
        }

        public void Serialize<T>(T response, Stream responseStream)
        {
            var b = new StringBuilder();
            try
            {
                Json.Write(b, response, 0);
            }
            catch (Exception e)
            {
                throw new JsonSerializerException(
                    "Error converting the response object of type " + Json.TypeName(typeof(T)) + " from the Lambda function to JSON: " + e.Message, e);
            }
            byte[] bytes = new UTF8Encoding(false).GetBytes(b.ToString());
            responseStream.Write(bytes, 0, bytes.Length);
        }
    }

    /// <summary>A small reflection-based JSON codec (Mono's own serializers load System.Web and machine.config).</summary>
    internal static class Json
    {
        private const int MaxDepth = 64;
        private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
        private static readonly Dictionary<Type, PropertyInfo[]> Readable = new Dictionary<Type, PropertyInfo[]>();
        private static readonly Dictionary<Type, Dictionary<string, PropertyInfo>> Writable = new Dictionary<Type, Dictionary<string, PropertyInfo>>();

        /// <summary>A readable type name: System.Collections.Generic.List&lt;System.String&gt;, not the assembly-qualified form.</summary>
        internal static string TypeName(Type t)
        {
            if (!t.IsGenericType) return t.FullName ?? t.Name;
            string name = t.GetGenericTypeDefinition().FullName;
            var b = new StringBuilder(name.Substring(0, name.IndexOf('`'))).Append('<');
            Type[] args = t.GetGenericArguments();
            for (int i = 0; i < args.Length; i++) b.Append(i > 0 ? ", " : "").Append(TypeName(args[i]));
            return b.Append('>').ToString();
        }

        // ---------------------------------------------------------------- parsing

        /// <summary>Parses JSON text into null, bool, string, int/long/double, List&lt;object&gt; or Dictionary&lt;string, object&gt;.</summary>
        internal static object Parse(string text)
        {
            int i = 0;
            object value = ParseValue(text, ref i, 0);
            SkipSpace(text, ref i);
            if (i != text.Length) throw Fail(text, i, "unexpected trailing characters");
            return value;
        }

        private static FormatException Fail(string text, int i, string what)
        {
            return new FormatException("Invalid JSON at position " + i + ": " + what + ".");
        }

        private static void SkipSpace(string s, ref int i)
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
        }

        private static object ParseValue(string s, ref int i, int depth)
        {
            if (depth > MaxDepth) throw Fail(s, i, "nesting deeper than " + MaxDepth);
            SkipSpace(s, ref i);
            if (i >= s.Length) throw Fail(s, i, "unexpected end");
            char c = s[i];
            if (c == '{')
            {
                var o = new Dictionary<string, object>();
                i++;
                SkipSpace(s, ref i);
                if (i < s.Length && s[i] == '}') { i++; return o; }
                while (true)
                {
                    SkipSpace(s, ref i);
                    if (i >= s.Length || s[i] != '"') throw Fail(s, i, "expected a property name");
                    string key = ParseString(s, ref i);
                    SkipSpace(s, ref i);
                    if (i >= s.Length || s[i] != ':') throw Fail(s, i, "expected ':'");
                    i++;
                    o[key] = ParseValue(s, ref i, depth + 1);
                    SkipSpace(s, ref i);
                    if (i < s.Length && s[i] == ',') { i++; continue; }
                    if (i < s.Length && s[i] == '}') { i++; return o; }
                    throw Fail(s, i, "expected ',' or '}'");
                }
            }
            if (c == '[')
            {
                var a = new List<object>();
                i++;
                SkipSpace(s, ref i);
                if (i < s.Length && s[i] == ']') { i++; return a; }
                while (true)
                {
                    a.Add(ParseValue(s, ref i, depth + 1));
                    SkipSpace(s, ref i);
                    if (i < s.Length && s[i] == ',') { i++; continue; }
                    if (i < s.Length && s[i] == ']') { i++; return a; }
                    throw Fail(s, i, "expected ',' or ']'");
                }
            }
            if (c == '"') return ParseString(s, ref i);
            if (string.CompareOrdinal(s, i, "true", 0, 4) == 0) { i += 4; return true; }
            if (string.CompareOrdinal(s, i, "false", 0, 5) == 0) { i += 5; return false; }
            if (string.CompareOrdinal(s, i, "null", 0, 4) == 0) { i += 4; return null; }
            int start = i;
            if (i < s.Length && s[i] == '-') i++;
            bool integral = true;
            while (i < s.Length && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == 'e' || s[i] == 'E' || s[i] == '+' || s[i] == '-'))
            {
                if (s[i] < '0' || s[i] > '9') integral = false;
                i++;
            }
            string number = s.Substring(start, i - start);
            if (number.Length == 0 || number == "-") throw Fail(s, start, "unexpected character '" + c + "'");
            long l;
            if (integral && long.TryParse(number, NumberStyles.AllowLeadingSign, Inv, out l))
                return l >= int.MinValue && l <= int.MaxValue ? (object)(int)l : l;
            double d;
            if (double.TryParse(number, NumberStyles.Float, Inv, out d)) return d;
            throw Fail(s, start, "invalid number '" + number + "'");
        }

        private static string ParseString(string s, ref int i)
        {
            var b = new StringBuilder();
            i++; // opening quote
            while (i < s.Length)
            {
                char c = s[i++];
                if (c == '"') return b.ToString();
                if (c != '\\') { b.Append(c); continue; }
                if (i >= s.Length) break;
                char e = s[i++];
                switch (e)
                {
                    case 'n': b.Append('\n'); break;
                    case 't': b.Append('\t'); break;
                    case 'r': b.Append('\r'); break;
                    case 'b': b.Append('\b'); break;
                    case 'f': b.Append('\f'); break;
                    case 'u':
                        if (i + 4 > s.Length) throw Fail(s, i, "bad \\u escape");
                        b.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber, Inv));
                        i += 4;
                        break;
                    default: b.Append(e); break;
                }
            }
            throw Fail(s, i, "unterminated string");
        }

        // ---------------------------------------------------------------- binding

        /// <summary>Converts a parsed value to the type a handler asks for.</summary>
        internal static object Convert(object node, Type t, int depth)
        {
            if (depth > MaxDepth) throw new FormatException("The object graph is deeper than " + MaxDepth + ".");
            if (t == typeof(object)) return node;
            Type nullable = Nullable.GetUnderlyingType(t);
            if (node == null)
            {
                if (t.IsValueType && nullable == null) throw new FormatException("null cannot be converted to " + TypeName(t) + ".");
                return null;
            }
            if (nullable != null) t = nullable;
            if (t.IsInstanceOfType(node) && !(node is IDictionary) && !(node is IList)) return node;
            if (t == typeof(string)) throw Mismatch(node, t);
            if (t.IsEnum)
            {
                var name = node as string;
                return name != null ? Enum.Parse(t, name, true) : Enum.ToObject(t, node);
            }
            if (t.IsPrimitive || t == typeof(decimal))
            {
                if (node is string || node is IDictionary || node is IList || (node is bool) != (t == typeof(bool))) throw Mismatch(node, t);
                return System.Convert.ChangeType(node, t, Inv);
            }
            var text = node as string;
            if (text != null)
            {
                if (t == typeof(DateTime)) return DateTime.Parse(text, Inv, DateTimeStyles.RoundtripKind);
                if (t == typeof(DateTimeOffset)) return DateTimeOffset.Parse(text, Inv);
                if (t == typeof(Guid)) return new Guid(text);
                if (t == typeof(TimeSpan)) return TimeSpan.Parse(text, Inv);
                if (t == typeof(byte[])) return System.Convert.FromBase64String(text);
                if (t == typeof(Uri)) return new Uri(text, UriKind.RelativeOrAbsolute);
                throw Mismatch(node, t);
            }
            var list = node as List<object>;
            if (list != null)
            {
                Type element = ElementType(t);
                if (element == null) throw Mismatch(node, t);
                if (t.IsArray)
                {
                    Array array = Array.CreateInstance(element, list.Count);
                    for (int i = 0; i < list.Count; i++) array.SetValue(Convert(list[i], element, depth + 1), i);
                    return array;
                }
                Type concrete = t.IsInterface ? typeof(List<>).MakeGenericType(element) : t;
                object collection = Activator.CreateInstance(concrete);
                MethodInfo add = concrete.GetMethod("Add", new[] { element });
                foreach (object item in list) add.Invoke(collection, new[] { Convert(item, element, depth + 1) });
                return collection;
            }
            var map = node as Dictionary<string, object>;
            if (map == null) throw Mismatch(node, t);
            Type[] kv = DictionaryTypes(t);
            if (kv != null)
            {
                Type concrete = t.IsInterface ? typeof(Dictionary<,>).MakeGenericType(kv) : t;
                var dict = (IDictionary)Activator.CreateInstance(concrete);
                foreach (var entry in map)
                {
                    object key = kv[0] == typeof(string) ? entry.Key
                        : kv[0].IsEnum ? Enum.Parse(kv[0], entry.Key, true)
                        : System.Convert.ChangeType(entry.Key, kv[0], Inv);
                    dict[key] = Convert(entry.Value, kv[1], depth + 1);
                }
                return dict;
            }
            object target = Activator.CreateInstance(t, true);
            Dictionary<string, PropertyInfo> props = WritableProperties(t);
            foreach (var entry in map)
            {
                PropertyInfo p;
                if (props.TryGetValue(entry.Key, out p)) p.SetValue(target, Convert(entry.Value, p.PropertyType, depth + 1), null);
            }
            return target;
        }

        private static FormatException Mismatch(object node, Type t)
        {
            string kind = node is string ? "string" : node is bool ? "boolean" : node is IDictionary ? "object" : node is IList ? "array" : "number";
            return new FormatException("The JSON " + kind + " could not be converted to " + TypeName(t) + ".");
        }

        private static Type ElementType(Type t)
        {
            if (t.IsArray) return t.GetElementType();
            if (!t.IsGenericType) return null;
            Type def = t.GetGenericTypeDefinition();
            if (def == typeof(List<>) || def == typeof(IList<>) || def == typeof(ICollection<>) || def == typeof(IEnumerable<>)
                || def == typeof(IReadOnlyList<>) || def == typeof(IReadOnlyCollection<>) || def == typeof(HashSet<>))
                return t.GetGenericArguments()[0];
            return null;
        }

        private static Type[] DictionaryTypes(Type t)
        {
            if (!t.IsGenericType) return null;
            Type def = t.GetGenericTypeDefinition();
            if (def == typeof(Dictionary<,>) || def == typeof(IDictionary<,>) || def == typeof(IReadOnlyDictionary<,>) || def == typeof(SortedDictionary<,>))
                return t.GetGenericArguments();
            return null;
        }

        private static Dictionary<string, PropertyInfo> WritableProperties(Type t)
        {
            Dictionary<string, PropertyInfo> props;
            if (Writable.TryGetValue(t, out props)) return props;
            props = new Dictionary<string, PropertyInfo>(StringComparer.OrdinalIgnoreCase);
            foreach (PropertyInfo p in t.GetProperties(BindingFlags.Public | BindingFlags.Instance))
                if (p.CanWrite && p.GetSetMethod() != null && p.GetIndexParameters().Length == 0) props[p.Name] = p;
            Writable[t] = props;
            return props;
        }

        // ---------------------------------------------------------------- writing

        internal static void Write(StringBuilder b, object value, int depth)
        {
            if (depth > MaxDepth) throw new FormatException("A possible object cycle was detected: the object graph is deeper than " + MaxDepth + ".");
            if (value == null) { b.Append("null"); return; }
            var s = value as string;
            if (s != null) { Quote(b, s); return; }
            if (value is bool) { b.Append((bool)value ? "true" : "false"); return; }
            Type t = value.GetType();
            if (t.IsEnum) { b.Append(System.Convert.ToInt64(value, Inv).ToString(Inv)); return; }
            if (value is double || value is float)
            {
                double d = System.Convert.ToDouble(value, Inv);
                if (double.IsNaN(d) || double.IsInfinity(d)) throw new ArgumentException(".NET number values such as positive and negative infinity cannot be written as valid JSON.");
                b.Append(value is float ? ((float)value).ToString("R", Inv) : d.ToString("R", Inv));
                return;
            }
            if (t.IsPrimitive || value is decimal)
            {
                if (value is char) { Quote(b, value.ToString()); return; }
                b.Append(((IFormattable)value).ToString(null, Inv));
                return;
            }
            if (value is DateTime)
            {
                var dt = (DateTime)value;
                Quote(b, dt.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", Inv) + (dt.Kind == DateTimeKind.Utc ? "Z" : dt.Kind == DateTimeKind.Local ? dt.ToString("zzz", Inv) : ""));
                return;
            }
            if (value is DateTimeOffset) { Quote(b, ((DateTimeOffset)value).ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz", Inv)); return; }
            if (value is Guid || value is Uri) { Quote(b, value.ToString()); return; }
            if (value is TimeSpan) { Quote(b, ((TimeSpan)value).ToString("c", Inv)); return; }
            if (value is byte[]) { Quote(b, System.Convert.ToBase64String((byte[])value)); return; }
            var dict = value as IDictionary;
            if (dict != null)
            {
                b.Append('{');
                bool first = true;
                foreach (DictionaryEntry e in dict)
                {
                    if (!first) b.Append(',');
                    first = false;
                    Quote(b, System.Convert.ToString(e.Key, Inv));
                    b.Append(':');
                    Write(b, e.Value, depth + 1);
                }
                b.Append('}');
                return;
            }
            var items = value as IEnumerable;
            if (items != null)
            {
                b.Append('[');
                bool first = true;
                foreach (object item in items)
                {
                    if (!first) b.Append(',');
                    first = false;
                    Write(b, item, depth + 1);
                }
                b.Append(']');
                return;
            }
            b.Append('{');
            bool firstProp = true;
            foreach (PropertyInfo p in ReadableProperties(t))
            {
                if (!firstProp) b.Append(',');
                firstProp = false;
                Quote(b, p.Name);
                b.Append(':');
                Write(b, p.GetValue(value, null), depth + 1);
            }
            b.Append('}');
        }

        private static PropertyInfo[] ReadableProperties(Type t)
        {
            PropertyInfo[] props;
            if (Readable.TryGetValue(t, out props)) return props;
            var list = new List<PropertyInfo>();
            foreach (PropertyInfo p in t.GetProperties(BindingFlags.Public | BindingFlags.Instance))
                if (p.CanRead && p.GetGetMethod() != null && p.GetIndexParameters().Length == 0) list.Add(p);
            props = list.ToArray();
            Readable[t] = props;
            return props;
        }

        /// <summary>Writes a JSON string literal.</summary>
        internal static void Quote(StringBuilder b, string s)
        {
            b.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': b.Append("\\\""); break;
                    case '\\': b.Append("\\\\"); break;
                    case '\n': b.Append("\\n"); break;
                    case '\r': b.Append("\\r"); break;
                    case '\t': b.Append("\\t"); break;
                    default:
                        if (c < 0x20) b.Append("\\u").Append(((int)c).ToString("x4", Inv));
                        else b.Append(c);
                        break;
                }
            }
            b.Append('"');
        }

        // ---------------------------------------------------------------- header helpers

        internal static IDictionary<string, object> ParseObject(string json)
        {
            return Parse(json) as IDictionary<string, object>;
        }

        internal static IDictionary<string, object> Object(IDictionary<string, object> o, string key)
        {
            object v;
            return o != null && o.TryGetValue(key, out v) ? v as IDictionary<string, object> : null;
        }

        internal static string Text(IDictionary<string, object> o, string key)
        {
            object v;
            return o != null && o.TryGetValue(key, out v) && v != null ? System.Convert.ToString(v, Inv) : null;
        }

        internal static IDictionary<string, string> Strings(IDictionary<string, object> o)
        {
            if (o == null) return null;
            var d = new Dictionary<string, string>();
            foreach (var kv in o) d[kv.Key] = kv.Value == null ? null : System.Convert.ToString(kv.Value, Inv);
            return d;
        }
    }

    /// <summary>Error documents: {"errorType","errorMessage","stackTrace":[...],"cause":{...}}.</summary>
    internal static class ErrorJson
    {
        internal static void Write(StringBuilder b, string type, string message, string[] stackTrace, Exception cause)
        {
            b.Append("{\"errorType\":");
            Json.Quote(b, type);
            b.Append(",\"errorMessage\":");
            Json.Quote(b, message ?? "");
            if (stackTrace != null && stackTrace.Length > 0)
            {
                b.Append(",\"stackTrace\":[");
                for (int i = 0; i < stackTrace.Length; i++)
                {
                    if (i > 0) b.Append(',');
                    Json.Quote(b, stackTrace[i]);
                }
                b.Append(']');
            }
            if (cause != null)
            {
                b.Append(",\"cause\":");
                Write(b, cause.GetType().Name, cause.Message, StackLines(cause), cause.InnerException);
            }
            b.Append('}');
        }

        internal static string[] StackLines(Exception e)
        {
            string trace = e.StackTrace;
            if (string.IsNullOrEmpty(trace)) return null;
            var lines = new List<string>();
            foreach (string line in trace.Split('\n'))
            {
                // The runtime's own frames, reflection wrappers and rethrow markers are not the user's stack.
                string t = line.Trim();
                if (t.Length == 0 || t.StartsWith("--- End of", StringComparison.Ordinal) || t.StartsWith("at (wrapper", StringComparison.Ordinal)
                    || t.StartsWith("at Kumo.Runtime.", StringComparison.Ordinal) || t.StartsWith("at System.Reflection.", StringComparison.Ordinal))
                    continue;
                lines.Add(t);
            }
            return lines.ToArray();
        }
    }
}
