package dev.ignition.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ignition.VirtualMachine;
import dev.ignition.junit.IgnitionTest;
import dev.ignition.testkit.RequiresBackend;
import java.io.File;
import java.io.IOException;
import java.lang.reflect.Method;
import java.net.URISyntaxException;
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
import org.jspecify.annotations.NullMarked;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The README's example must compile against the current API, and run where KVM is available. */
class ReadmeExampleTest {
    private static final Pattern JAVA_BLOCK = Pattern.compile("```java\\n(.*?)```", Pattern.DOTALL);

    /** Wraps the README's first Java block in a class: imports stay on top, the rest becomes run(). */
    static String readmeSnippetAsClass() throws IOException {
        Path readmePath = Files.exists(Path.of("README.md")) ? Path.of("README.md") : Path.of("..", "README.md");
        String readme = Files.readString(readmePath);
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
        int rc = javac.run(null, null, null, "-d", dir.toString(), "-cp", apiClassPath(), src.toString());
        assertThat(rc).as("javac exit status for\n" + Files.readString(src)).isZero();
        return dir;
    }

    /**
     * Where the API the snippet uses lives: the launcher's class path may not include the test
     * class path (the JUnit console launcher loads tests in a class loader of its own).
     */
    static String apiClassPath() {
        List<String> parts = new ArrayList<>();
        parts.add(System.getProperty("java.class.path"));
        for (Class<?> c : List.of(VirtualMachine.class, NullMarked.class,
                IgnitionTest.class, Test.class, assertThat(0).getClass())) {
            try {
                parts.add(Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString());
            } catch (URISyntaxException e) {
                throw new IllegalStateException(e);
            }
        }
        return String.join(File.pathSeparator, parts);
    }

    /** The README's JUnit section: its class, with the imports a reader's IDE would add. */
    @Test
    void readmeJunitExampleCompiles() throws IOException {
        Path readmePath = Files.exists(Path.of("README.md")) ? Path.of("README.md") : Path.of("..", "README.md");
        Matcher m = JAVA_BLOCK.matcher(Files.readString(readmePath));
        String block = null;
        while (m.find()) {
            if (m.group(1).contains("@IgnitionTest")) {
                block = m.group(1);
                break;
            }
        }
        assertThat(block).as("README has a ```java block with an @IgnitionTest class").isNotNull();
        String source = String.join("\n",
                "import static org.assertj.core.api.Assertions.assertThat;",
                "import dev.ignition.VirtualMachine;",
                "import dev.ignition.guest.TestGuests;",
                "import dev.ignition.junit.IgnitionTest;",
                "import dev.ignition.junit.VmTemplate;",
                "import java.time.Duration;",
                "import org.junit.jupiter.api.Tag;",
                "import org.junit.jupiter.api.Test;", "") + block;
        Path dir = Files.createTempDirectory("readme-junit");
        Path src = dir.resolve("EchoTest.java");
        Files.writeString(src, source);
        int rc = ToolProvider.getSystemJavaCompiler().run(null, null, null, "-d", dir.toString(), "-cp", apiClassPath(),
                src.toString());
        assertThat(rc).as("javac exit status for\n" + source).isZero();
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
