// Package jcasc owns the Jenkins configuration-as-code that Jenkins needs
// for the agent VPCs: the `jenkins: clouds:` section, one Amazon ECS cloud
// per ready agent VPC, generated from what the hub published (Fleet reads
// it) and the teams' tags, and the rules by which Jenkins resolves the
// `${...}` references in it (Resolve), so the generated file can be checked
// against Parameter Store the way the controller will read it.
//
// Field names are the Amazon ECS plugin's data-bound constructor and
// setter names (github.com/jenkinsci/amazon-ecs-plugin,
// src/main/java/com/cloudbees/jenkins/plugins/amazonecs/ECSCloud.java and
// ECSTaskTemplate.java); the cloud's key `ecs` is the symbol
// configuration-as-code derives from the class name ECSCloud minus its
// extension point Cloud (configuration-as-code-plugin,
// plugin/src/main/java/io/jenkins/plugins/casc/impl/attributes/DescribableAttribute.java,
// getSymbols), as in the plugin's examples/fargate/docker/files/jenkins.yaml.
package jcasc
