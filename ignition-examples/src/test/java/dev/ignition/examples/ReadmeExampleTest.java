package dev.ignition.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.testkit.RequiresBackend;
import java.io.IOException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The README's example must compile against the current API, and run where KVM is available. */
class ReadmeExampleTest {
    private static final Pattern JAVA_BLOCK = Pattern.compile("```java\\n(.*?)```", Pattern.DOTALL);

    /** Wraps the README's first Java block in a class: imports stay on top, the rest becomes run(). */
    static String readmeSnippetAsClass() throws IOException {
        String readme = Files.readString(Path.of("..", "README.md"));
        Matcher m = JAVA_BLOCK.matcher(readme);
        assertThat(m.find()).as("README has a ```java block").isTrue();
        List<String> imports = new ArrayList<>();
        StringBuilder body = new StringBuilder();
        for (String line : m.group(1).split("\n")) {
            if (line.startsWith("import ")) {
                imports.add(line);
            } else {
                body.append("        ").append(line).append('\n');
            }
        }
        return String.join("\n", imports) + "\n\npublic class ReadmeSnippet {\n"
                + "    public static void run() throws Exception {\n" + body + "    }\n}\n";
    }

    static Path compile() throws IOException {
        Path dir = Files.createTempDirectory("readme-snippet");
        Path src = dir.resolve("ReadmeSnippet.java");
        Files.writeString(src, readmeSnippetAsClass());
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        int rc = javac.run(null, null, null, "-d", dir.toString(),
                "-cp", System.getProperty("java.class.path"), src.toString());
        assertThat(rc).as("javac exit status for\n" + Files.readString(src)).isZero();
        return dir;
    }

    @Test
    void readmeExampleCompiles() throws IOException {
        assertThat(compile().resolve("ReadmeSnippet.class")).exists();
    }

    @Test
    @Tag("kvm")
    @RequiresBackend("kvm")
    void readmeExampleRuns() throws Exception {
        Path dir = compile();
        try (URLClassLoader cl = new URLClassLoader(new URL[] {dir.toUri().toURL()}, getClass().getClassLoader())) {
            Method run = cl.loadClass("ReadmeSnippet").getMethod("run");
            run.invoke(null);
        }
    }
}
