package kumo;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** The JSON mapper for handler input and output (Jackson, configured like Lambda's Java runtime). */
final class Json {
    private Json() {}

    static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS, JsonReadFeature.ALLOW_LEADING_ZEROS_FOR_NUMBERS,
                    JsonReadFeature.ALLOW_SINGLE_QUOTES, JsonReadFeature.ALLOW_BACKSLASH_ESCAPING_ANY_CHARACTER,
                    JsonReadFeature.ALLOW_UNESCAPED_CONTROL_CHARS, JsonReadFeature.ALLOW_UNQUOTED_FIELD_NAMES)
            .enable(MapperFeature.USE_STD_BEAN_NAMING)
            .disable(MapperFeature.INFER_PROPERTY_MUTATORS, MapperFeature.USE_GETTERS_AS_SETTERS)
            .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS, SerializationFeature.CLOSE_CLOSEABLE)
            .enable(DeserializationFeature.ACCEPT_EMPTY_ARRAY_AS_NULL_OBJECT,
                    DeserializationFeature.ACCEPT_EMPTY_STRING_AS_NULL_OBJECT,
                    DeserializationFeature.ACCEPT_SINGLE_VALUE_AS_ARRAY,
                    DeserializationFeature.READ_UNKNOWN_ENUM_VALUES_AS_NULL,
                    DeserializationFeature.UNWRAP_SINGLE_VALUE_ARRAYS)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES,
                    DeserializationFeature.FAIL_ON_IGNORED_PROPERTIES,
                    DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES,
                    DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS)
            .serializationInclusion(JsonInclude.Include.NON_NULL)
            .build();

    /** Writes a JSON string literal (used for error documents, which must not need Jackson). */
    static void quote(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': out.append("\\\""); break;
                case '\\': out.append("\\\\"); break;
                case '\n': out.append("\\n"); break;
                case '\r': out.append("\\r"); break;
                case '\t': out.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        out.append("\\u00").append(Character.forDigit(c >> 4, 16)).append(Character.forDigit(c & 15, 16));
                    } else {
                        out.append(c);
                    }
            }
        }
        out.append('"');
    }

    /** {"errorMessage":...,"errorType":...,"stackTrace":[...]}; errorType left out when null. */
    static byte[] errorDocument(String message, String type, List<String> stackTrace) {
        StringBuilder b = new StringBuilder(256).append("{\"errorMessage\":");
        quote(b, message == null ? "" : message);
        if (type != null) {
            b.append(",\"errorType\":");
            quote(b, type);
        }
        if (stackTrace != null) {
            b.append(",\"stackTrace\":[");
            for (int i = 0; i < stackTrace.size(); i++) {
                if (i > 0) {
                    b.append(',');
                }
                quote(b, stackTrace.get(i));
            }
            b.append(']');
        }
        return b.append('}').toString().getBytes(StandardCharsets.UTF_8);
    }
}
